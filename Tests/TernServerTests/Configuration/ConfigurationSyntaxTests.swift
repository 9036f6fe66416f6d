import Testing
@testable import TernServer

/// The file format: lines, comments, blanks, and how problems are reported.
@Suite struct ConfigurationSyntaxTests {
    @Test func commentsBlankLinesAndSurroundingBlanksAreSkipped() throws {
        let directory = try ConfigurationDirectory()
        let (configuration, warnings) = try directory.load(text: """
            # Mosquitto's comment: a # in the first column
            #max_keepalive 5

            \t
               max_inflight_messages 7   \t
            listener 1883\t
            allow_anonymous\ttrue
            """)
        #expect(warnings.isEmpty)
        #expect(configuration.maxInflightMessages == 7)
        #expect(configuration.listeners.map(\.port) == [1883])
        #expect(configuration.security.allowAnonymous)
    }

    @Test func windowsLineEndingsAndAByteOrderMarkAreAccepted() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("mosquitto.conf", bytes: [0xEF, 0xBB, 0xBF] + Array("listener 1884\r\nmax_queued_messages 5\r\n".utf8))
        let (configuration, warnings) = try directory.load()
        #expect(warnings.isEmpty)
        #expect(configuration.listeners.map(\.port) == [1884])
        #expect(configuration.maxQueuedMessages == 5)
    }

    @Test func aCommentMustStartInTheFirstColumn() throws {
        let directory = try ConfigurationDirectory()
        let (configuration, warnings) = try directory.load(text: """
            listener 1883
              # indented: Mosquitto refuses it as a setting named "#"
            """)
        #expect(warnings.map(\.description) == [
            "mosquitto.conf:2: a comment must start in the first column (Mosquitto refuses this line); ignored",
        ])
        #expect(configuration.listeners.count == 1)
    }

    @Test func aHashAfterAValueIsNotAComment() throws {
        let directory = try ConfigurationDirectory()
        // Mosquitto reads one word for a switch and ignores the rest; for a path the rest of the line is the path.
        let (configuration, warnings) = try directory.load(text: """
            listener 1883
            allow_anonymous true # for the test bench
            password_file pw # not a comment
            """)
        #expect(configuration.security.allowAnonymous)
        #expect(configuration.security.passwordFile == directory.absolute("pw # not a comment"))
        #expect(warnings.map(\.description) == [
            ##"mosquitto.conf:2: allow_anonymous: text after the value ignored: "# for the test bench""##,
        ])
    }

    @Test func unknownSettingsAreWarningsWithFileAndLine() throws {
        let directory = try ConfigurationDirectory()
        let warnings = try directory.warnings("""
            listener 1883

            frobnicate 12
            Allow_anonymous true
            """)
        #expect(warnings == [
            "mosquitto.conf:3: frobnicate: unknown setting; ignored",
            "mosquitto.conf:4: Allow_anonymous: unknown setting; ignored (settings are case-sensitive: did you "
                + "mean allow_anonymous?)",
        ])
    }

    @Test func mosquittoSettingsTernIgnoresAreWarnings() throws {
        let directory = try ConfigurationDirectory()
        let warnings = try directory.warnings("""
            log_facility 5
            user mosquitto
            check_retain_source true
            listener 1883
            memory_limit 1000000
            """)
        #expect(warnings == [
            "mosquitto.conf:1: log_facility: not supported by Tern; ignored",
            "mosquitto.conf:2: user: not supported by Tern; ignored",
            "mosquitto.conf:3: check_retain_source: not supported by Tern; ignored",
            "mosquitto.conf:5: memory_limit: not supported by Tern; ignored",
        ])
    }

    @Test func aBridgeIsIgnoredWithOneWarning() throws {
        let directory = try ConfigurationDirectory()
        let (configuration, warnings) = try directory.load(text: """
            listener 1883
            connection upstream
            address broker.example.com:1883
            topic sensors/# out 1
            remote_username tern
            """)
        #expect(warnings.map(\.description) == [
            "mosquitto.conf:2: connection: bridges are not supported; this bridge and its settings are ignored",
        ])
        #expect(configuration.listeners.count == 1)
    }

    @Test func aBridgeSettingOutsideABridgeIsAWarning() throws {
        let directory = try ConfigurationDirectory()
        #expect(try directory.warnings("listener 1883\ntopic a/# both 0\n")
            == ["mosquitto.conf:2: topic: bridge setting outside a bridge; ignored"])
    }

    @Test(arguments: [
        ("bind_interface eth0", "mosquitto.conf:2: bind_interface: binding to a network interface is not "
            + "supported; give the interface's address on the \"listener\" line instead"),
        ("psk_hint tern", "mosquitto.conf:2: psk_hint: TLS with pre-shared keys is not supported"),
        ("crlfile revoked.pem", "mosquitto.conf:2: crlfile: certificate revocation lists are not supported"),
        ("plugin /usr/lib/mosquitto_dynamic_security.so", "mosquitto.conf:2: plugin: plugins are not supported"),
        ("plugin_opt_config_file dynsec.json", "mosquitto.conf:2: plugin_opt_config_file: plugins are not supported"),
    ])
    func settingsThatCannotBeIgnoredSafelyAreRefused(line: String, expected: String) throws {
        let directory = try ConfigurationDirectory()
        #expect(try directory.error("listener 1883\n\(line)\n") == expected)
    }

    @Test func anErrorNamesFileLineSettingAndReason() throws {
        let directory = try ConfigurationDirectory()
        let text = String(repeating: "# comment\n", count: 11) + "max_keepalive abc\n"
        try directory.write("mosquitto.conf", text)
        #expect(throws: ConfigurationDiagnostic(file: "mosquitto.conf", line: 12,
                                               message: #"max_keepalive: "abc" is not a number"#)) {
            try directory.load()
        }
        #expect(try directory.error(text) == #"mosquitto.conf:12: max_keepalive: "abc" is not a number"#)
    }

    @Test func theFileIsNamedAsGiven() throws {
        let directory = try ConfigurationDirectory()
        let absolute = try directory.write("etc/tern.conf", "listener 1883\nmax_packet_size 5\n")
        #expect(throws: ConfigurationDiagnostic(file: absolute, line: 2,
                                               message: "max_packet_size: 5 is not between 20 and 268435460 "
                                                   + "(or 0 for no limit)")) {
            try BrokerConfiguration.load(path: absolute)
        }
        #expect(throws: ConfigurationDiagnostic(file: "etc/tern.conf", line: 2,
                                               message: "max_packet_size: 5 is not between 20 and 268435460 "
                                                   + "(or 0 for no limit)")) {
            try directory.load("etc/tern.conf")
        }
    }

    @Test func aMissingFileIsAnErrorWithoutALine() throws {
        let directory = try ConfigurationDirectory()
        #expect(throws: ConfigurationDiagnostic(file: "absent.conf", line: nil,
                                               message: "cannot read the file: No such file or directory")) {
            try directory.load("absent.conf")
        }
        try directory.makeDirectory("folder.conf")
        #expect(throws: ConfigurationDiagnostic(file: "folder.conf", line: nil,
                                               message: "cannot read the file: is a directory")) {
            try directory.load("folder.conf")
        }
        #expect(ConfigurationDiagnostic(file: "a.conf", line: nil, message: "m").description == "a.conf: m")
    }

    @Test func invalidUTF8IsAnError() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("mosquitto.conf", bytes: Array("listener 1883\nauto_id_prefix ".utf8) + [0xC3, 0x28, 0x0A])
        #expect(throws: ConfigurationDiagnostic(file: "mosquitto.conf", line: 2, message: "not valid UTF-8")) {
            try directory.load()
        }
    }

    @Test func anEmptyFileIsMosquittosDefaults() throws {
        let directory = try ConfigurationDirectory()
        let (configuration, warnings) = try directory.load(text: "")
        #expect(warnings.isEmpty)
        var expected = BrokerConfiguration.default()
        expected.files = ["mosquitto.conf"]
        #expect(configuration == expected)
    }
}
