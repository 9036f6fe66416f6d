import TernBroker
import Testing
@testable import TernServer

/// `listener` lines and the settings that belong to them.
@Suite struct ListenerConfigurationTests {
    @Test func settingsAfterAListenerLineAreItsOwn() throws {
        let directory = try ConfigurationDirectory()
        let configuration = try directory.configuration("""
            listener 1883 127.0.0.1
            max_connections 10
            socket_domain ipv4

            listener 9001
            protocol websockets
            http_dir /srv/www
            """)
        #expect(configuration.listeners == [
            .init(port: 1883, address: "127.0.0.1", socketDomain: .ipv4, maxConnections: 10),
            .init(port: 9001, transport: .websockets, httpDirectory: "/srv/www"),
        ])
        #expect(!configuration.isLocalOnly)
    }

    /// Mosquitto's `max_qos` and `max_topic_alias` belong to the listener they follow; written outside any listener
    /// block with no `port` or `bind_address` line they are the broker's (as `max_connections`).
    @Test func maximumQoSAndTopicAliasMaximumPerListener() throws {
        let directory = try ConfigurationDirectory()
        let configuration = try directory.configuration("""
            max_qos 1
            max_topic_alias 4
            listener 1883
            listener 1884
            max_qos 0
            max_topic_alias 0
            listener 1885
            max_topic_alias 65535
            """)
        #expect(configuration.listeners.map(\.protocolLimits) == [
            ListenerProtocolLimits(),
            ListenerProtocolLimits(maximumQoS: .atMostOnce, topicAliasMaximum: 0),
            ListenerProtocolLimits(topicAliasMaximum: 65_535),
        ])
        let settings = configuration.brokerSettings()
        #expect(settings.maximumQoS == .atLeastOnce)
        #expect(settings.topicAliasMaximum == 4)
        #expect(BrokerConfiguration.default(port: 1883).brokerSettings().maximumQoS == .exactlyOnce)
    }

    /// `websockets_origin` (Tern's own) may be repeated and belongs to its listener.
    @Test func allowedOriginsAreCollectedPerListener() throws {
        let directory = try ConfigurationDirectory()
        let configuration = try directory.configuration("""
            listener 9001
            protocol websockets
            websockets_origin https://app.example.com
            websockets_origin http://localhost:3000

            listener 9002
            protocol websockets
            """)
        #expect(configuration.listeners.map(\.allowedOrigins) == [
            ["https://app.example.com", "http://localhost:3000"], [],
        ])
    }

    /// The Mosquitto example of the users' document: plain MQTT on 1883, secure WebSocket on 8883.
    @Test func theUsersDocumentsListenerBlock() throws {
        let directory = try ConfigurationDirectory()
        let (configuration, warnings) = try directory.load(text: """
            # /etc/mosquitto/mosquitto.conf
            listener 1883
            protocol mqtt
            listener 8883
            protocol websockets
            cafile /etc/letsencrypt/live/broker.example.com/chain.pem
            certfile /etc/letsencrypt/live/broker.example.com/fullchain.pem
            keyfile /etc/letsencrypt/live/broker.example.com/privkey.pem
            """)
        #expect(warnings.isEmpty)
        let refused = BrokerConfiguration.Security(allowAnonymous: false)
        #expect(configuration.listeners == [
            .init(port: 1883, transport: .mqtt, security: refused),
            .init(port: 8883, transport: .websockets,
                  tls: .init(certificateFile: "/etc/letsencrypt/live/broker.example.com/fullchain.pem",
                             keyFile: "/etc/letsencrypt/live/broker.example.com/privkey.pem",
                             caFile: "/etc/letsencrypt/live/broker.example.com/chain.pem"),
                  security: refused),
        ])
    }

    @Test func theAddressIsOptionalAndAnyHostName() throws {
        let directory = try ConfigurationDirectory()
        let (configuration, warnings) = try directory.load(text: """
            listener 1883 ::
            listener 1884 localhost
            listener 1885 # all interfaces: Mosquitto reads a second word starting with # as no address
            listener 1886 10.0.0.1 extra
            listener 0
            """)
        #expect(configuration.listeners.map(\.address) == ["::", "localhost", nil, "10.0.0.1", nil])
        #expect(configuration.listeners.map(\.port) == [1883, 1884, 1885, 1886, 0])
        #expect(warnings.map(\.description) == [#"mosquitto.conf:4: listener: text after the address ignored: "extra""#])
    }

    @Test(arguments: [
        ("listener", "mosquitto.conf:1: listener: missing port number"),
        ("listener abc", #"mosquitto.conf:1: listener: "abc" is not a port number (0 to 65535)"#),
        ("listener 65536", #"mosquitto.conf:1: listener: "65536" is not a port number (0 to 65535)"#),
        ("listener -1", #"mosquitto.conf:1: listener: "-1" is not a port number (0 to 65535)"#),
        ("listener 0 /run/mosquitto.sock", #"mosquitto.conf:1: listener: "/run/mosquitto.sock": Unix socket "#
            + "listeners are not supported"),
    ])
    func badListenerLines(line: String, expected: String) throws {
        let directory = try ConfigurationDirectory()
        #expect(try directory.error(line) == expected)
    }

    @Test func theSameListenerTwiceIsAnError() throws {
        let directory = try ConfigurationDirectory()
        #expect(try directory.error("listener 1883\nlistener 1884\nlistener 1883\n")
            == "mosquitto.conf:3: listener: port 1883 is already a listener at mosquitto.conf:1")
        #expect(try directory.error("listener 1883 127.0.0.1\nlistener 1883 127.0.0.1\n")
            == "mosquitto.conf:2: listener: port 1883 on 127.0.0.1 is already a listener at mosquitto.conf:1")
        // Another address on the same port is another listener; so is every port 0.
        let configuration = try directory.configuration("listener 1883 127.0.0.1\nlistener 1883 ::1\nlistener 0\nlistener 0\n")
        #expect(configuration.listeners.count == 4)
    }

    @Test(arguments: ["protocol websockets", "socket_domain ipv4", "certfile server.pem",
                      "cafile ca.pem", "http_dir www", "require_certificate true", "tls_version tlsv1.2"])
    func aListenerSettingBeforeAnyListenerIsAnError(line: String) throws {
        let directory = try ConfigurationDirectory()
        let key = line.split(separator: " ")[0]
        let expected = "mosquitto.conf:2: \(key): must come after a \"listener\" line (written outside any "
            + "listener, it configures Mosquitto's default listener, which needs a \"port\" or \"bind_address\" line)"
        #expect(try directory.error("max_inflight_messages 5\n\(line)\nlistener 1883\n") == expected)
        #expect(try directory.error("\(line)\n") == expected.replacingFirstLine())
    }

    /// Mosquitto's deprecated `port` and `bind_address` open its default listener, which takes the listener
    /// settings written outside any listener block, in any order and in any file; it is opened after the others.
    @Test func portAndBindAddressOpenTheDefaultListener() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("conf.d/tls.conf", "certfile server.pem\nkeyfile server.key\n")
        let (configuration, warnings) = try directory.load(text: """
            max_connections 100
            max_qos 1
            listener 9001
            protocol websockets
            include_dir conf.d
            listener 1884 127.0.0.1
            port 8883
            """)
        #expect(configuration.listeners.map(\.port) == [9001, 1884, 8883])
        let defaultListener = configuration.listeners[2]
        #expect(defaultListener.address == nil)
        #expect(defaultListener.transport == .mqtt)
        #expect(defaultListener.maxConnections == 100)
        #expect(defaultListener.protocolLimits == ListenerProtocolLimits(maximumQoS: .atLeastOnce))
        #expect(defaultListener.tls?.certificateFile.hasSuffix("/server.pem") == true)
        // Outside any listener block they were the default listener's, not the broker's.
        #expect(configuration.listeners[0].maxConnections == nil && configuration.listeners[0].tls == nil)
        #expect(configuration.brokerSettings().maximumQoS == .exactlyOnce)
        #expect(configuration.maxConnections == BrokerConfiguration.default(port: 1883).maxConnections)
        #expect(!configuration.isLocalOnly)
        #expect(warnings.map(\.description) == [
            "mosquitto.conf:7: port: deprecated in Mosquitto 2.0: opens the default listener; a \"listener 8883\" "
                + "line says the same",
        ])

        let bound = try directory.configuration("bind_address 127.0.0.1\nallow_anonymous true\n")
        #expect(bound.listeners == [.init(port: 1883, address: "127.0.0.1", security: .init(allowAnonymous: true))])
        #expect(!bound.isLocalOnly)
        let both = try directory.configuration("port 1999\nbind_address ::1\n")
        #expect(both.listeners.map { "\($0.address ?? "*"):\($0.port)" } == ["::1:1999"])
        #expect(try directory.configuration("port 1883\n").security == .init(allowAnonymous: false))
    }

    @Test func theDefaultListenerTakesPerListenerSecurityWrittenOutsideAnyListener() throws {
        let directory = try ConfigurationDirectory()
        let configuration = try directory.configuration("""
            per_listener_settings true
            port 1883
            allow_anonymous true
            listener 1884
            """)
        #expect(configuration.listeners.map(\.port) == [1884, 1883])
        #expect(configuration.listeners.map(\.security.allowAnonymous) == [false, true])
    }

    @Test(arguments: [
        ("port 1883x", "mosquitto.conf:1: port: \"1883x\" is not a port number (0 to 65535)"),
        ("port 70000", "mosquitto.conf:1: port: \"70000\" is not a port number (0 to 65535)"),
        ("bind_address /run/mqtt.sock", "mosquitto.conf:1: bind_address: \"/run/mqtt.sock\": Unix socket listeners "
            + "are not supported"),
        ("port 1883\ncertfile server.pem", "mosquitto.conf:1: port 1883: TLS needs both certfile and keyfile; "
            + "keyfile is missing"),
        ("listener 1883\nport 1883", "mosquitto.conf:2: port: port 1883 is already a listener at mosquitto.conf:1"),
        ("listener 1883 127.0.0.1\nbind_address 127.0.0.1",
         "mosquitto.conf:2: bind_address: port 1883 on 127.0.0.1 is already a listener at mosquitto.conf:1"),
    ])
    func badDefaultListeners(text: String, expected: String) throws {
        let directory = try ConfigurationDirectory()
        #expect(try directory.error(text + "\n") == expected)
    }

    @Test func tlsNeedsACertificateAndAKey() throws {
        let directory = try ConfigurationDirectory()
        #expect(try directory.error("listener 1883\nlistener 8883\ncafile ca.pem\nrequire_certificate true\n")
            == "mosquitto.conf:2: listener 8883: cafile, require_certificate given, but TLS needs certfile and keyfile")
        #expect(try directory.error("listener 8883\ncertfile server.pem\n")
            == "mosquitto.conf:1: listener 8883: TLS needs both certfile and keyfile; keyfile is missing")
        #expect(try directory.error("listener 8883 0.0.0.0\nkeyfile server.key\n")
            == "mosquitto.conf:1: listener 8883 0.0.0.0: TLS needs both certfile and keyfile; certfile is missing")
        #expect(try directory.error("listener 8883\ncertfile s.pem\nkeyfile s.key\nrequire_certificate true\n")
            == "mosquitto.conf:1: listener 8883: require_certificate needs cafile or capath to check client "
            + "certificates against")
    }

    @Test func aSwitchSetToFalseDoesNotAskForTLS() throws {
        let directory = try ConfigurationDirectory()
        let configuration = try directory.configuration("""
            listener 1883
            require_certificate false
            use_identity_as_username false
            """)
        #expect(configuration.listeners[0].tls == nil)
        #expect(try directory.error("listener 1883\nuse_identity_as_username true\n")
            == "mosquitto.conf:1: listener 1883: use_identity_as_username given, but TLS needs certfile and keyfile")
    }

    @Test func anIncludedFileStartsOutsideAnyListener() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("conf.d/tls.conf", "certfile server.pem\n")
        #expect(try directory.error("listener 8883\ninclude_dir conf.d\n")
            == "conf.d/tls.conf:1: certfile: must come after a \"listener\" line (written outside any listener, "
            + "it configures Mosquitto's default listener, which needs a \"port\" or \"bind_address\" line)")
    }

    @Test func theMainFileResumesItsListenerAfterAnInclude() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("conf.d/ws.conf", "listener 9001\nprotocol websockets\n")
        let configuration = try directory.configuration("""
            listener 1883
            include_dir conf.d
            max_connections 50
            """)
        #expect(configuration.listeners.map(\.port) == [1883, 9001])
        #expect(configuration.listeners.map(\.maxConnections) == [50, nil])
        #expect(configuration.listeners.map(\.transport) == [.mqtt, .websockets])
    }
}

extension String {
    /// The expected message when the offending line is the first of the file.
    fileprivate func replacingFirstLine() -> String {
        "mosquitto.conf:1:" + dropFirst("mosquitto.conf:2:".count)
    }
}
