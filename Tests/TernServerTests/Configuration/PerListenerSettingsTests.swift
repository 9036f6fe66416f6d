import Testing
@testable import TernServer

/// `per_listener_settings` and the security settings it makes per listener.
@Suite struct PerListenerSettingsTests {
    @Test func falseMakesSecuritySettingsBrokerWideWhereverTheyAreWritten() throws {
        let directory = try ConfigurationDirectory()
        let configuration = try directory.configuration("""
            listener 1883
            allow_anonymous true
            listener 8883
            password_file passwd
            auto_id_prefix box-
            allow_zero_length_clientid false
            acl_file acl
            """)
        let expected = BrokerConfiguration.Security(
            allowAnonymous: true, passwordFile: directory.absolute("passwd"), aclFile: directory.absolute("acl"),
            autoIDPrefix: "box-", allowZeroLengthClientID: false)
        #expect(!configuration.perListenerSettings)
        #expect(configuration.security == expected)
        #expect(configuration.listeners.map(\.security) == [expected, expected])
    }

    @Test func trueMakesThemBelongToTheirListener() throws {
        let directory = try ConfigurationDirectory()
        let configuration = try directory.configuration("""
            per_listener_settings true
            listener 1883 127.0.0.1
            allow_anonymous true
            auto_id_prefix local-

            listener 8883
            password_file /etc/mosquitto/passwd
            acl_file /etc/mosquitto/acl
            allow_zero_length_clientid false
            """)
        #expect(configuration.perListenerSettings)
        #expect(configuration.listeners.map(\.security) == [
            .init(allowAnonymous: true, autoIDPrefix: "local-"),
            .init(allowAnonymous: false, passwordFile: "/etc/mosquitto/passwd", aclFile: "/etc/mosquitto/acl",
                  allowZeroLengthClientID: false),
        ])
        // The broker-wide values stay the defaults; the core gets those.
        #expect(configuration.security == .init(allowAnonymous: false))
        #expect(configuration.brokerSettings().assignedClientIDPrefix == "auto-")
    }

    @Test func withTrueASecuritySettingBeforeAnyListenerIsAnError() throws {
        let directory = try ConfigurationDirectory()
        #expect(try directory.error("per_listener_settings true\npassword_file passwd\nlistener 1883\n")
            == "mosquitto.conf:2: password_file: with per_listener_settings true, this setting must come after "
            + "a \"listener\" line (or a \"port\" line, which opens Mosquitto's default listener)")
    }

    @Test func itMustComeBeforeEverySecuritySetting() throws {
        let directory = try ConfigurationDirectory()
        // Mosquitto: "per_listener_settings must be set before any other security settings."
        #expect(try directory.error("password_file /tmp/pw\nper_listener_settings true\nlistener 1900\n")
            == "mosquitto.conf:2: per_listener_settings: must come before every security setting (password_file "
            + "is set at mosquitto.conf:1)")
        #expect(try directory.error("per_listener_settings true\nlistener 1\nallow_anonymous true\nper_listener_settings false\n")
            == "mosquitto.conf:4: per_listener_settings: must come before every security setting (allow_anonymous "
            + "is set at mosquitto.conf:3)")
        // Saying again what is already in force changes nothing, and listener and broker settings may come first.
        let configuration = try directory.configuration("""
            max_queued_messages 5
            listener 1883
            max_connections 3
            allow_anonymous true
            per_listener_settings false
            per_listener_settings false
            """)
        #expect(configuration.security.allowAnonymous)
        let perListener = try directory.configuration("listener 1883\nper_listener_settings true\nallow_anonymous true\n")
        #expect(perListener.listeners[0].security.allowAnonymous)
    }

    @Test func aBrokerWidePathTwiceIsAnErrorThatExplainsWhy() throws {
        let directory = try ConfigurationDirectory()
        // A common mistake: one password file per listener without per_listener_settings (Mosquitto: "Duplicate
        // password_file value in configuration").
        #expect(try directory.error("listener 1883\npassword_file a\nlistener 8883\npassword_file b\n")
            == "mosquitto.conf:4: password_file: already set at mosquitto.conf:2 (per_listener_settings is false, "
            + "so security settings apply to the whole broker even inside a listener block)")
        let configuration = try directory.configuration("""
            per_listener_settings true
            listener 1883
            password_file a
            listener 8883
            password_file b
            """)
        #expect(configuration.listeners.map(\.security.passwordFile) == [directory.absolute("a"), directory.absolute("b")])
        #expect(try directory.error("per_listener_settings true\nlistener 1883\nacl_file a\nacl_file b\n")
            == "mosquitto.conf:4: acl_file: already set at mosquitto.conf:3")
    }

    @Test func eachListenerDefaultsToRefusingAnonymousClients() throws {
        let directory = try ConfigurationDirectory()
        let configuration = try directory.configuration("""
            per_listener_settings true
            listener 1883
            listener 1884
            allow_anonymous true
            """)
        #expect(configuration.listeners.map(\.security.allowAnonymous) == [false, true])
        #expect(configuration.listeners.map(\.security.autoIDPrefix) == ["auto-", "auto-"])
        #expect(configuration.listeners.map(\.security.allowZeroLengthClientID) == [true, true])
    }
}
