import Testing
@testable import TernServer

/// Every supported setting with a valid value (and what it sets) and with invalid values (and the error).
@Suite struct ConfigurationKeyTests {
    /// A file and what the configuration it loads to must satisfy.
    struct Valid: Sendable, CustomTestStringConvertible {
        var text: String
        var check: @Sendable (BrokerConfiguration, String) -> Bool
        var testDescription: String { text.split(separator: "\n").joined(separator: " | ") }

        /// `line` written broker-wide, after a listener so the file is not in local-only mode.
        static func global(_ line: String, _ check: @escaping @Sendable (BrokerConfiguration) -> Bool) -> Valid {
            Valid(text: "listener 1883\n\(line)\n") { configuration, _ in check(configuration) }
        }

        /// `line` written broker-wide; the check also gets the directory, to build expected absolute paths.
        static func global(_ line: String,
                           _ check: @escaping @Sendable (BrokerConfiguration, String) -> Bool) -> Valid
        {
            Valid(text: "listener 1883\n\(line)\n", check: check)
        }

        /// `lines` written in a listener block; the check gets the listener and the directory.
        static func listener(_ lines: String,
                             _ check: @escaping @Sendable (BrokerConfiguration.Listener, String) -> Bool) -> Valid
        {
            Valid(text: "listener 1883\n\(lines)\n") { configuration, directory in
                check(configuration.listeners[0], directory)
            }
        }

        /// `lines` in a listener block that has a certificate and key, so TLS is on.
        static func tls(_ lines: String, _ check: @escaping @Sendable (BrokerConfiguration.TLS, String) -> Bool) -> Valid {
            Valid(text: "listener 8883\ncertfile server.pem\nkeyfile server.key\n\(lines)\n") { configuration, directory in
                configuration.listeners[0].tls.map { check($0, directory) } ?? false
            }
        }
    }

    static let valid: [Valid] = [
        // Broker-wide limits.
        .global("max_keepalive 60") { $0.maxKeepAlive == 60 },
        .global("max_keepalive 65535") { $0.maxKeepAlive == 65_535 },
        .global("max_packet_size 1024") { $0.maxPacketSize == 1024 },
        .global("max_packet_size 0") { $0.maxPacketSize == nil },
        .global("message_size_limit 2048") { $0.messageSizeLimit == 2048 },
        .global("max_inflight_messages 5") { $0.maxInflightMessages == 5 },
        .global("max_inflight_messages 0") { $0.maxInflightMessages == 0 },
        .global("max_inflight_messages -1") { $0.maxInflightMessages == 0 },
        .global("max_inflight_messages 65535") { $0.maxInflightMessages == 0 },
        .global("max_inflight_bytes 100000") { $0.maxInflightBytes == 100_000 },
        .global("max_inflight_bytes -3") { $0.maxInflightBytes == 0 },
        .global("max_queued_messages 10") { $0.maxQueuedMessages == 10 },
        .global("max_queued_messages -1") { $0.maxQueuedMessages == 0 },
        .global("max_queued_bytes 1000000") { $0.maxQueuedBytes == 1_000_000 },
        .global("queue_qos0_messages true") { $0.queueQoS0Messages },
        .global("retain_available false") { !$0.retainAvailable },
        .global("retain_available 0") { !$0.retainAvailable },
        .global("persistent_client_expiration 1h") { $0.persistentClientExpiration == 3_600 },
        .global("upgrade_outgoing_qos true") { $0.upgradeOutgoingQoS },
        .global("publisher_flow_control false") { !$0.publisherFlowControl },
        .global("set_tcp_nodelay 1") { $0.setTCPNoDelay },
        .global("sys_interval 0") { $0.sysInterval == 0 },
        .global("sys_interval 60") { $0.sysInterval == 60 },
        .global("connection_messages false") { !$0.logging.connectionMessages },
        // Persistence.
        .global("persistence true") { $0.persistence.enabled },
        .global("retained_persistence true") { $0.persistence.enabled },
        .global("persistence_location data/") { $0.persistence.location == $1 + "/data" },
        .global("persistence_location /var/lib/mosquitto/") { c, _ in c.persistence.location == "/var/lib/mosquitto" },
        .global("persistence_file tern.db") { $0.persistence.file == "tern.db" },
        .global("autosave_interval 60") { $0.persistence.autosaveInterval == 60 },
        .global("autosave_interval -1") { $0.persistence.autosaveInterval == 0 },
        .global("persistence false") { !$0.persistence.enabled },
        .global("max_queued_messages_total 100000") { $0.maxQueuedMessagesTotal == 100_000 },
        .global("persistence_commit_window 2") { $0.persistence.commitWindowMilliseconds == 2 },
        .global("persistence_sync normal") { $0.persistence.sync == .normal },
        .global("persistence_sync off") { $0.persistence.sync == .off },
        .global("queue_page_size 500") { $0.persistence.queuePageSize == 500 && $0.brokerSettings().queuePageSize == 500 },
        .global("queue_page_size 0") { $0.persistence.queuePageSize == 0 },
        // Logging.
        .global("log_dest stdout") { $0.logging.destinations == [.stdout] },
        .global("log_dest none") { $0.logging.destinations.isEmpty },
        .global("log_dest file logs/tern log.txt") { $0.logging.destinations == [.file($1 + "/logs/tern log.txt")] },
        .global("log_dest syslog\nlog_dest topic\nlog_dest syslog") { $0.logging.destinations == [.syslog, .topic] },
        .global("log_dest stdout\nlog_dest none\nlog_dest dlt") { $0.logging.destinations == [.dlt] },
        .global("log_type debug") { $0.logging.kinds == [.debug] },
        .global("log_type error\nlog_type warning") { $0.logging.kinds == [.error, .warning] },
        .global("log_type all") { $0.logging.kinds == Set(BrokerConfiguration.LogSettings.Kind.allCases) },
        .global("log_type all\nlog_type none") { $0.logging.kinds.isEmpty },
        .global("log_type websockets") { $0.logging.kinds == [.websockets] },
        // Tern's own.
        .global("server_keep_alive 30") { $0.serverKeepAlive == 30 },
        .global("server_keep_alive 0") { $0.serverKeepAlive == 0 },
        .global("topic_alias_maximum 0") { $0.topicAliasMaximum == 0 },
        .global("topic_alias_maximum 65535") { $0.topicAliasMaximum == 65_535 },
        .global("receive_maximum 1") { $0.receiveMaximum == 1 },
        .global("pid_file run/tern.pid") { $0.pidFile == $1 + "/run/tern.pid" },
        .global("connect_timeout 5") { $0.connectTimeout == 5 },
        Valid(text: "max_connections 500\nlistener 1883\nmax_connections 10\n") {
            configuration, _ in configuration.maxConnections == 500 && configuration.listeners[0].maxConnections == 10
        },
        Valid(text: "max_connections -1\nlistener 1883\n") { configuration, _ in configuration.maxConnections == 0 },
        Valid(text: "max_qos 1\nmax_topic_alias 3\nlistener 1883\nmax_qos 0\nmax_topic_alias 0\n") {
            configuration, _ in configuration.maximumQoS == .atLeastOnce && configuration.topicAliasMaximum == 3
                && configuration.listeners[0].protocolLimits == .init(maximumQoS: .atMostOnce, topicAliasMaximum: 0)
        },
        .global("max_connection_rate 200") {
            $0.maxConnectionRate == 200 && $0.brokerSettings().maximumConnectionRate == 200
        },
        .global("max_client_id_length 64") {
            $0.maxClientIDLength == 64 && $0.brokerSettings().maximumClientIDLength == 64
        },
        .global("max_topic_length 256") { $0.maxTopicLength == 256 && $0.brokerSettings().maximumTopicLength == 256 },
        .global("max_topic_levels 8") { $0.maxTopicLevels == 8 && $0.brokerSettings().maximumTopicLevels == 8 },
        .global("max_topic_levels 0") { $0.maxTopicLevels == 0 },
        .global("max_subscriptions_per_client 100") {
            $0.maxSubscriptionsPerClient == 100 && $0.brokerSettings().maximumSubscriptionsPerClient == 100
        },
        .global("max_user_properties 16") {
            $0.maxUserProperties == 16 && $0.brokerSettings().maximumUserProperties == 16
        },
        .global("max_publish_rate 50") { $0.maxPublishRate == 50 && $0.connectionLimits().publishRate == 50 },
        .global("max_publish_bytes_rate 65536") {
            $0.maxPublishBytesRate == 65_536 && $0.connectionLimits().bytesRate == 65_536
        },
        .global("max_write_buffer 262144") { $0.connectionLimits().writeBuffer == 262_144 },
        .global("event_loops 3") { $0.eventLoops == 3 },
        .global("log_format json") { $0.logging.format == .json },
        .global("http_listener 8080 127.0.0.1") { $0.http?.port == 8080 && $0.http?.address == "127.0.0.1" },
        .global("http_listener 0\nhttp_admin_token t\nhttp_readonly_token r") {
            $0.http?.adminToken == "t" && $0.http?.readOnlyToken == "r"
        },
        .global("http_listener 80\nhttp_password_file admins\nhttp_admin_users a b\nhttp_readonly_users c") {
            $0.http?.passwordFile == $1 + "/admins" && $0.http?.adminUsers == ["a", "b"]
                && $0.http?.readOnlyUsers == ["c"]
        },
        .global("http_listener 80\nhttp_certfile c.pem\nhttp_keyfile k.pem\nhttp_protect_metrics true") {
            $0.http?.certificateFile == $1 + "/c.pem" && $0.http?.keyFile == $1 + "/k.pem"
                && $0.http?.protectMetrics == true
        },
        // Security, broker-wide (per_listener_settings false).
        .global("allow_anonymous true") { $0.security.allowAnonymous && $0.listeners[0].security.allowAnonymous },
        .global("allow_anonymous false") { !$0.security.allowAnonymous },
        .global("password_file passwd") { $0.security.passwordFile == $1 + "/passwd" },
        .global("password_file /etc/mosquitto/passwd") { c, _ in c.security.passwordFile == "/etc/mosquitto/passwd" },
        .global("acl_file ./acl/../acl.txt") { $0.security.aclFile == $1 + "/acl.txt" },
        .global("auto_id_prefix tern client-") { $0.security.autoIDPrefix == "tern client-" },
        .global("allow_zero_length_clientid false") { !$0.security.allowZeroLengthClientID },
        .global("use_username_as_clientid true") { $0.security.useUsernameAsClientID },
        .global("log_timestamp false") { !$0.logging.timestamps },
        .global("log_timestamp_format %H:%M:%S") { $0.logging.timestampFormat == "%H:%M:%S" && $0.logging.timestamps },
        .global("clientid_prefixes sensor-") {
            $0.clientIDPrefixes == "sensor-" && $0.brokerSettings().requiredClientIDPrefix == "sensor-"
        },
        // Listener settings.
        .listener("socket_domain ipv4") { l, _ in l.socketDomain == .ipv4 },
        .listener("socket_domain ipv6") { l, _ in l.socketDomain == .ipv6 },
        .listener("protocol websockets") { l, _ in l.transport == .websockets },
        .listener("protocol mqtt") { l, _ in l.transport == .mqtt },
        .listener("max_connections 100") { l, _ in l.maxConnections == 100 },
        .listener("max_connections -1") { l, _ in l.maxConnections == nil },
        .listener("mount_point tenant/") { l, _ in l.protocolLimits.mountPoint.prefix == "tenant/" },
        .listener("protocol websockets\nhttp_dir www") { l, directory in l.httpDirectory == directory + "/www" },
        .listener("protocol websockets\nwebsockets_origin https://a.example") { l, _ in
            l.allowedOrigins == ["https://a.example"]
        },
        .tls("") { tls, directory in
            tls.certificateFile == directory + "/server.pem" && tls.keyFile == directory + "/server.key"
                && tls.caFile == nil && !tls.requireCertificate && tls.minimumVersion == nil
        },
        .tls("cafile ca.pem") { tls, directory in tls.caFile == directory + "/ca.pem" },
        .tls("capath /etc/ssl/certs") { tls, _ in tls.caPath == "/etc/ssl/certs" },
        .tls("cafile ca.pem\nrequire_certificate true") { tls, _ in tls.requireCertificate },
        .tls("tls_version tlsv1.3") { tls, _ in tls.minimumVersion == .tlsv1_3 },
        .tls("tls_version tlsv1.1") { tls, _ in tls.minimumVersion == .tlsv1_1 },
        .tls("ciphers ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256") { tls, _ in
            tls.ciphers == "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"
        },
        .tls("ciphers_tls1.3 TLS_AES_256_GCM_SHA384") { tls, _ in tls.ciphersTLS13 == "TLS_AES_256_GCM_SHA384" },
        .tls("dhparamfile dhparam.pem") { tls, directory in tls.dhParametersFile == directory + "/dhparam.pem" },
        .tls("cafile ca.pem\nrequire_certificate true\nuse_identity_as_username true") { tls, _ in
            tls.useIdentityAsUsername && !tls.useSubjectAsUsername
        },
        .tls("cafile ca.pem\nrequire_certificate true\nuse_subject_as_username true") { tls, _ in
            tls.useSubjectAsUsername
        },
    ]

    @Test(arguments: valid)
    func validValue(_ example: Valid) throws {
        let directory = try ConfigurationDirectory()
        let (configuration, warnings) = try directory.load(text: example.text)
        #expect(warnings.isEmpty)
        #expect(example.check(configuration, directory.path))
    }

    @Test(arguments: [
        // Numbers and ranges.
        ("max_keepalive abc", #"max_keepalive: "abc" is not a number"#),
        ("max_keepalive 9", "max_keepalive: 9 is not between 10 and 65535"),
        ("max_keepalive 65536", "max_keepalive: 65536 is not between 10 and 65535"),
        ("max_keepalive", "max_keepalive: missing value"),
        ("max_packet_size 19", "max_packet_size: 19 is not between 20 and 268435460 (or 0 for no limit)"),
        ("max_packet_size -1", "max_packet_size: -1 is not between 20 and 268435460 (or 0 for no limit)"),
        ("message_size_limit 268435456", "message_size_limit: 268435456 is not between 0 and 268435455"),
        ("message_size_limit 1k", #"message_size_limit: "1k" is not a number"#),
        ("max_inflight_messages 65536", "max_inflight_messages: 65536 is more than 65535"),
        ("max_inflight_bytes lots", #"max_inflight_bytes: "lots" is not a number"#),
        ("max_queued_messages 1.5", #"max_queued_messages: "1.5" is not a number"#),
        ("max_queued_bytes 99999999999999999999", "max_queued_bytes: 99999999999999999999 is too large"),
        ("sys_interval -1", "sys_interval: -1 is not between 0 and 65535"),
        ("autosave_interval soon", #"autosave_interval: "soon" is not a number"#),
        ("server_keep_alive 65536", "server_keep_alive: 65536 is not between 0 and 65535"),
        ("topic_alias_maximum -1", "topic_alias_maximum: -1 is not between 0 and 65535"),
        ("receive_maximum 0", "receive_maximum: 0 is not between 1 and 65535"),
        ("connect_timeout 0", "connect_timeout: 0 is not between 1 and 86400"),
        ("persistence_commit_window 1001", "persistence_commit_window: 1001 is not between 0 and 1000"),
        ("connect_timeout 10s", #"connect_timeout: "10s" is not a number"#),
        ("max_connection_rate -1", "max_connection_rate: -1 is not between 0 and 1000000"),
        ("max_client_id_length 0", "max_client_id_length: 0 is not between 1 and 65535"),
        ("max_topic_length 65536", "max_topic_length: 65536 is not between 1 and 65535"),
        ("max_topic_levels deep", #"max_topic_levels: "deep" is not a number"#),
        ("max_user_properties -2", "max_user_properties: -2 is not between 0 and 65535"),
        ("max_write_buffer 100", "max_write_buffer: 100 is not between 4096 and 2147483647"),
        ("event_loops 0", "event_loops: 0 is not between 1 and 256"),
        // Switches.
        ("queue_qos0_messages yes", #"queue_qos0_messages: "yes" is not true or false"#),
        ("retain_available TRUE", #"retain_available: "TRUE" is not true or false"#),
        ("upgrade_outgoing_qos 2", #"upgrade_outgoing_qos: "2" is not true or false"#),
        ("publisher_flow_control off", #"publisher_flow_control: "off" is not true or false"#),
        ("set_tcp_nodelay on", #"set_tcp_nodelay: "on" is not true or false"#),
        ("persistence maybe", #"persistence: "maybe" is not true or false"#),
        ("connection_messages", "connection_messages: missing value"),
        ("allow_anonymous nope", #"allow_anonymous: "nope" is not true or false"#),
        ("allow_zero_length_clientid 2", #"allow_zero_length_clientid: "2" is not true or false"#),
        ("use_username_as_clientid yes", #"use_username_as_clientid: "yes" is not true or false"#),
        ("log_timestamp no", #"log_timestamp: "no" is not true or false"#),
        ("per_listener_settings sometimes", #"per_listener_settings: "sometimes" is not true or false"#),
        // Durations.
        ("persistent_client_expiration 14", #"persistent_client_expiration: "14" is not a duration: a number "#
            + "followed by h, d, w, m or y, as in 14d"),
        ("persistent_client_expiration 3s", #"persistent_client_expiration: "3s" is not a duration: a number "#
            + "followed by h, d, w, m or y, as in 14d"),
        ("persistent_client_expiration d", #"persistent_client_expiration: "d" is not a duration: a number "#
            + "followed by h, d, w, m or y, as in 14d"),
        ("persistent_client_expiration -1d", #"persistent_client_expiration: "-1d" is not a duration: a number "#
            + "followed by h, d, w, m or y, as in 14d"),
        ("persistent_client_expiration 0d", #"persistent_client_expiration: "0d" is not a duration longer than 0"#),
        ("persistent_client_expiration 200y", #"persistent_client_expiration: "200y" is too long (at most 49710 days)"#),
        // Text and paths.
        ("password_file", "password_file: missing value"),
        ("acl_file   ", "acl_file: missing value"),
        ("auto_id_prefix", "auto_id_prefix: missing value"),
        ("persistence_location", "persistence_location: missing value"),
        ("pid_file", "pid_file: missing value"),
        ("persistence_file", "persistence_file: missing value"),
        // Words from a list.
        ("log_dest console", #"log_dest: "console" is not one of none, stdout, stderr, syslog, topic, dlt, file"#),
        ("log_dest file", #"log_dest: missing file name after "file""#),
        ("log_dest", "log_dest: missing value"),
        ("log_dest file a.log\nlog_dest file b.log", "log_dest: only one log file may be given; one is set at "
            + "mosquitto.conf:2"),
        ("log_type verbose", #"log_type: "verbose" is not one of none, all, debug, error, warning, notice, "#
            + "information, subscribe, unsubscribe, websockets, internal"),
    ])
    func invalidBrokerWideValue(line: String, expected: String) throws {
        let directory = try ConfigurationDirectory()
        let lineNumber = line.split(separator: "\n").count + 1
        #expect(try directory.error("listener 1883\n\(line)\n") == "mosquitto.conf:\(lineNumber): \(expected)")
    }

    @Test(arguments: [
        ("socket_domain ipv5", #"socket_domain: "ipv5" is not one of ipv4, ipv6"#),
        ("socket_domain", "socket_domain: missing value"),
        ("protocol mqtts", #"protocol: "mqtts" is not one of mqtt, websockets"#),
        ("max_connections many", #"max_connections: "many" is not a number"#),
        ("max_qos 3", "max_qos: 3 is not between 0 and 2"),
        ("max_topic_alias -1", "max_topic_alias: -1 is not between 0 and 65535"),
        ("mount_point", "mount_point: missing value"),
        ("mount_point a/+/",
         #"mount_point: "a/+/" cannot start a topic: topic name contains a wildcard character (+ or #)"#),
        ("http_dir", "http_dir: missing value"),
        ("cafile", "cafile: missing value"),
        ("capath", "capath: missing value"),
        ("certfile", "certfile: missing value"),
        ("keyfile", "keyfile: missing value"),
        ("dhparamfile", "dhparamfile: missing value"),
        ("ciphers", "ciphers: missing value"),
        ("ciphers_tls1.3", "ciphers_tls1.3: missing value"),
        ("tls_version tlsv1.0", #"tls_version: "tlsv1.0" is not one of tlsv1.1, tlsv1.2, tlsv1.3"#),
        ("require_certificate sure", #"require_certificate: "sure" is not true or false"#),
        ("use_identity_as_username x", #"use_identity_as_username: "x" is not true or false"#),
        ("use_subject_as_username x", #"use_subject_as_username: "x" is not true or false"#),
    ])
    func invalidListenerValue(line: String, expected: String) throws {
        let directory = try ConfigurationDirectory()
        #expect(try directory.error("listener 1883\n\(line)\n") == "mosquitto.conf:2: \(expected)")
    }

    @Test func textSettingsMayBeSetOncePerScope() throws {
        let directory = try ConfigurationDirectory()
        #expect(try directory.error("listener 1883\ncafile a.pem\ncafile b.pem\n")
            == "mosquitto.conf:3: cafile: already set at mosquitto.conf:2")
        #expect(try directory.error("persistence_location /a\npersistence_location /b\n")
            == "mosquitto.conf:2: persistence_location: already set at mosquitto.conf:1")
        // Per listener, each listener has its own.
        let configuration = try directory.configuration("""
            listener 8883
            certfile a.pem
            keyfile a.key
            listener 8884
            certfile b.pem
            keyfile b.key
            """)
        #expect(configuration.listeners.map { $0.tls?.certificateFile }
            == [directory.absolute("a.pem"), directory.absolute("b.pem")])
    }

    @Test func switchesAndNumbersMayBeRepeatedAndTheLastCounts() throws {
        let directory = try ConfigurationDirectory()
        let configuration = try directory.configuration("""
            max_inflight_messages 5
            retain_available false
            listener 1883
            max_inflight_messages 7
            retain_available true
            """)
        #expect(configuration.maxInflightMessages == 7)
        #expect(configuration.retainAvailable)
    }

    @Test func everySupportedSettingHasAValidExample() {
        let written = Set(Self.valid.flatMap { example in
            example.text.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
        })
        let structural: Set<ConfigurationKey> = [.includeDirectory, .perListenerSettings, .port, .bindAddress]
        let missing = ConfigurationKey.allCases.filter { !structural.contains($0) && !written.contains($0.rawValue) }
        #expect(missing.isEmpty)
    }
}
