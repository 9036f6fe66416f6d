import Testing
@testable import TernServer

/// A production-style Mosquitto 2.0 setup as Debian lays it out: a main file with broker-wide settings and
/// `include_dir conf.d`, and one file per listener.
@Suite struct RealWorldConfigurationTests {
    static let main = """
        # Place your local configuration in /etc/mosquitto/conf.d/
        #
        # A full description of the configuration file is at
        # /usr/share/doc/mosquitto/examples/mosquitto.conf.example

        per_listener_settings true

        pid_file /run/mosquitto/mosquitto.pid
        user mosquitto

        persistence true
        persistence_location /var/lib/mosquitto/
        persistence_file mosquitto.db
        autosave_interval 300

        log_dest file /var/log/mosquitto/mosquitto.log
        log_dest stdout
        log_type error
        log_type warning
        log_type notice
        log_type information
        log_timestamp true
        connection_messages true

        max_inflight_messages 40
        max_inflight_bytes 0
        max_queued_messages 5000
        max_queued_bytes 10485760
        queue_qos0_messages false
        message_size_limit 0
        max_keepalive 300
        max_packet_size 1048576
        persistent_client_expiration 14d
        retain_available true
        upgrade_outgoing_qos false
        set_tcp_nodelay true
        sys_interval 30

        include_dir conf.d
        """

    static let local = """
        # Local clients: plain MQTT on loopback, no password
        listener 1883 127.0.0.1
        allow_anonymous true
        max_connections -1
        """

    static let tls = """
        # Devices: MQTT over TLS, passwords and ACLs
        listener 8883
        socket_domain ipv4
        max_connections 10000
        cafile /etc/mosquitto/ca_certificates/ca.crt
        certfile /etc/mosquitto/certs/server.crt
        keyfile /etc/mosquitto/certs/server.key
        tls_version tlsv1.2
        require_certificate false
        password_file /etc/mosquitto/passwd
        acl_file /etc/mosquitto/acl
        allow_anonymous false
        auto_id_prefix device-
        allow_zero_length_clientid false
        """

    static let websockets = """
        # Dashboards in the browser
        listener 9001
        protocol websockets
        http_dir /usr/share/mosquitto/www
        password_file /etc/mosquitto/passwd
        acl_file /etc/mosquitto/acl
        """

    @Test func loadsWithTheMeaningMosquittoGivesIt() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("conf.d/00-local.conf", Self.local)
        try directory.write("conf.d/10-tls.conf", Self.tls)
        try directory.write("conf.d/20-websockets.conf", Self.websockets)
        let (configuration, warnings) = try directory.load(text: Self.main)

        #expect(warnings.map(\.description) == [
            "mosquitto.conf:9: user: not supported by Tern; ignored",
        ])
        #expect(configuration.files
            == ["mosquitto.conf", "conf.d/00-local.conf", "conf.d/10-tls.conf", "conf.d/20-websockets.conf"])
        #expect(!configuration.isLocalOnly)
        #expect(configuration.perListenerSettings)
        #expect(configuration.pidFile == "/run/mosquitto/mosquitto.pid")

        #expect(configuration.listeners == [
            .init(port: 1883, address: "127.0.0.1", security: .init(allowAnonymous: true)),
            .init(port: 8883, socketDomain: .ipv4, maxConnections: 10_000,
                  tls: .init(certificateFile: "/etc/mosquitto/certs/server.crt",
                             keyFile: "/etc/mosquitto/certs/server.key",
                             caFile: "/etc/mosquitto/ca_certificates/ca.crt", minimumVersion: .tlsv1_2),
                  security: .init(allowAnonymous: false, passwordFile: "/etc/mosquitto/passwd",
                                  aclFile: "/etc/mosquitto/acl", autoIDPrefix: "device-",
                                  allowZeroLengthClientID: false)),
            .init(port: 9001, transport: .websockets, httpDirectory: "/usr/share/mosquitto/www",
                  security: .init(allowAnonymous: false, passwordFile: "/etc/mosquitto/passwd",
                                  aclFile: "/etc/mosquitto/acl")),
        ])

        #expect(configuration.persistence == .init(enabled: true, location: "/var/lib/mosquitto",
                                                   file: "mosquitto.db", autosaveInterval: 300))
        #expect(configuration.logging == .init(destinations: [.file("/var/log/mosquitto/mosquitto.log"), .stdout],
                                               kinds: [.error, .warning, .notice, .information],
                                               connectionMessages: true))
        #expect(configuration.maxInflightMessages == 40)
        #expect(configuration.maxInflightBytes == 0)
        #expect(configuration.maxQueuedMessages == 5000)
        #expect(configuration.maxQueuedBytes == 10_485_760)
        #expect(!configuration.queueQoS0Messages)
        #expect(configuration.messageSizeLimit == 0)
        #expect(configuration.maxKeepAlive == 300)
        #expect(configuration.maxPacketSize == 1_048_576)
        #expect(configuration.persistentClientExpiration == UInt32(14 * 86_400))
        #expect(configuration.retainAvailable)
        #expect(!configuration.upgradeOutgoingQoS)
        #expect(configuration.setTCPNoDelay)
        #expect(configuration.sysInterval == 30)

        let settings = configuration.brokerSettings()
        #expect(settings.maximumKeepAlive == 300)
        #expect(settings.maximumPacketSize == 1_048_576)
        #expect(settings.maximumInflightMessages == 40)
        #expect(settings.maximumQueuedMessages == 5000)
        #expect(settings.persistentSessionExpiry == 1_209_600)
    }

    @Test func aTypoInOneIncludedFileStopsTheBrokerAndSaysWhere() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("conf.d/00-local.conf", Self.local)
        try directory.write("conf.d/10-tls.conf", Self.tls.replacingTLSVersion())
        try directory.write("conf.d/20-websockets.conf", Self.websockets)
        #expect(try directory.error(Self.main)
            == #"conf.d/10-tls.conf:8: tls_version: "TLSv1.2" is not one of tlsv1.1, tlsv1.2, tlsv1.3"#)
    }
}

extension String {
    fileprivate func replacingTLSVersion() -> String {
        split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0 == "tls_version tlsv1.2" ? "tls_version TLSv1.2" : String($0) }
            .joined(separator: "\n")
    }
}
