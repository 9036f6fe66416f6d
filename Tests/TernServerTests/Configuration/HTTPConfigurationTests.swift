import Testing
@testable import TernServer

/// Tern's `http_*` settings (docs/operations.md) and `log_format`.
@Suite struct HTTPConfigurationTests {
    @Test func noHTTPListenerUnlessConfigured() throws {
        let directory = try ConfigurationDirectory()
        #expect(try directory.configuration("listener 1883\n").http == nil)
        #expect(BrokerConfiguration.default().http == nil)
    }

    @Test func everyHTTPSettingInAnyOrder() throws {
        let directory = try ConfigurationDirectory()
        let configuration = try directory.configuration("""
            listener 1883
            password_file passwd
            http_admin_users alice bob
            http_readonly_users olga
            http_listener 8080 127.0.0.1
            http_admin_token s3cret token
            http_readonly_token read
            http_certfile cert.pem
            http_keyfile key.pem
            http_protect_metrics true
            log_format json
            """)
        let http = try #require(configuration.http)
        #expect(http.port == 8080 && http.address == "127.0.0.1" && http.isLoopback)
        #expect(http.adminUsers == ["alice", "bob"] && http.readOnlyUsers == ["olga"])
        #expect(http.adminToken == "s3cret token" && http.readOnlyToken == "read")
        #expect(http.passwordFile == directory.absolute("passwd"))
        #expect(http.certificateFile == directory.absolute("cert.pem") && http.keyFile == directory.absolute("key.pem"))
        #expect(http.protectMetrics && http.hasCredentials)
        #expect(configuration.logging.format == .json)
    }

    @Test func anHTTPPasswordFileOfItsOwn() throws {
        let directory = try ConfigurationDirectory()
        let http = try #require(try directory.configuration(
            "http_listener 0\nhttp_password_file admins\nhttp_admin_users root\n").http)
        #expect(http.passwordFile == directory.absolute("admins"))
        #expect(http.address == nil && !http.isLoopback)
    }

    @Test(arguments: [
        ("http_listener", "missing value"),
        ("http_listener 70000", "is not a port"),
        ("http_listener 80 127.0.0.1 extra", "at most one address"),
        ("http_listener 80\nhttp_listener 81", "only one http_listener"),
        ("http_admin_token abc", "need an \"http_listener"),
        ("http_listener 80\nhttp_admin_users alice", "password file"),
        ("http_listener 80\nhttp_certfile c.pem", "must be given together"),
        ("http_listener 80\nhttp_protect_metrics maybe", "is not true or false"),
        ("log_format xml", "is not one of text, json"),
    ])
    func invalidHTTPSettings(text: String, words: String) throws {
        let directory = try ConfigurationDirectory()
        let error = try #require(try directory.error(text + "\n"))
        #expect(error.contains(words), "\(error)")
    }
}
