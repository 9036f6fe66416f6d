/// The settings Tern reads from a configuration file, spelled as in the file, and where each may appear.
///
/// Mosquitto's own settings keep Mosquitto's names and meanings (mosquitto.conf(5), version 2.0); Tern's additions
/// use the same syntax. Mosquitto settings that Tern does not implement are listed in `unsupported`.
enum ConfigurationKey: String, CaseIterable, Sendable {
    // Structure
    case listener
    case includeDirectory = "include_dir"
    case perListenerSettings = "per_listener_settings"
    /// Mosquitto's deprecated default listener: its port and address (the listener settings written outside any
    /// listener block are its own).
    case port
    case bindAddress = "bind_address"

    // Per listener: after a `listener` line; outside any, the default listener's.
    case socketDomain = "socket_domain"
    case `protocol`
    /// Per listener; outside any listener block the default listener's, or broker-wide when `port` and
    /// `bind_address` open none (as the next two).
    case maxConnections = "max_connections"
    /// Maximum QoS of the listener's clients.
    case maxQoS = "max_qos"
    /// Topic Alias Maximum of the listener's clients (broker-wide: `topic_alias_maximum`).
    case maxTopicAlias = "max_topic_alias"
    /// A prefix put before the topics of the listener's clients (`MountPoint`).
    case mountPoint = "mount_point"
    case httpDirectory = "http_dir"
    /// Tern's own: an origin browser pages may open WebSocket connections from (repeatable).
    case websocketsOrigin = "websockets_origin"
    case cafile, capath, certfile, keyfile
    case requireCertificate = "require_certificate"
    case tlsVersion = "tls_version"
    case ciphers
    case ciphersTLS13 = "ciphers_tls1.3"
    case dhparamfile
    case useIdentityAsUsername = "use_identity_as_username"
    case useSubjectAsUsername = "use_subject_as_username"

    // Security: per listener when `per_listener_settings true`, else global wherever they are written.
    case allowAnonymous = "allow_anonymous"
    case passwordFile = "password_file"
    case aclFile = "acl_file"
    case autoIDPrefix = "auto_id_prefix"
    case allowZeroLengthClientID = "allow_zero_length_clientid"
    case useUsernameAsClientID = "use_username_as_clientid"

    // Global, wherever they are written.
    case maxKeepalive = "max_keepalive"
    case maxPacketSize = "max_packet_size"
    case messageSizeLimit = "message_size_limit"
    case clientIDPrefixes = "clientid_prefixes"
    case maxInflightMessages = "max_inflight_messages"
    case maxInflightBytes = "max_inflight_bytes"
    case maxQueuedMessages = "max_queued_messages"
    case maxQueuedBytes = "max_queued_bytes"
    case queueQoS0Messages = "queue_qos0_messages"
    case retainAvailable = "retain_available"
    case persistentClientExpiration = "persistent_client_expiration"
    case upgradeOutgoingQoS = "upgrade_outgoing_qos"
    case publisherFlowControl = "publisher_flow_control"
    case setTCPNoDelay = "set_tcp_nodelay"
    case sysInterval = "sys_interval"
    case pidFile = "pid_file"
    case persistence
    case retainedPersistence = "retained_persistence"
    case persistenceLocation = "persistence_location"
    case persistenceFile = "persistence_file"
    case autosaveInterval = "autosave_interval"
    case logDest = "log_dest"
    case logType = "log_type"
    case connectionMessages = "connection_messages"

    // Tern's own, global.
    case serverKeepAlive = "server_keep_alive"
    case topicAliasMaximum = "topic_alias_maximum"
    case receiveMaximum = "receive_maximum"
    case connectTimeout = "connect_timeout"
    case httpListener = "http_listener"
    case httpAdminUsers = "http_admin_users"
    case httpReadOnlyUsers = "http_readonly_users"
    case httpAdminToken = "http_admin_token"
    case httpReadOnlyToken = "http_readonly_token"
    case httpPasswordFile = "http_password_file"
    case httpCertfile = "http_certfile"
    case httpKeyfile = "http_keyfile"
    case httpProtectMetrics = "http_protect_metrics"
    case logFormat = "log_format"
    case logTimestamp = "log_timestamp"
    case logTimestampFormat = "log_timestamp_format"
    case persistenceCommitWindow = "persistence_commit_window"
    case persistenceSync = "persistence_sync"
    case queuePageSize = "queue_page_size"
    case maxQueuedMessagesTotal = "max_queued_messages_total"
    case maxConnectionRate = "max_connection_rate"
    case maxClientIDLength = "max_client_id_length"
    case maxTopicLength = "max_topic_length"
    case maxTopicLevels = "max_topic_levels"
    case maxSubscriptionsPerClient = "max_subscriptions_per_client"
    case maxUserProperties = "max_user_properties"
    case maxPublishRate = "max_publish_rate"
    case maxPublishBytesRate = "max_publish_bytes_rate"
    case maxWriteBuffer = "max_write_buffer"
    case eventLoops = "event_loops"

    enum Scope: Sendable {
        /// `listener`, `include_dir`, `per_listener_settings`: they shape how the file is read.
        case structure
        /// Belongs to the listener opened by the last `listener` line of the same file.
        case listener
        /// Belongs to the current listener when `per_listener_settings` is true, to the broker otherwise.
        case security
        /// Belongs to the broker wherever it is written.
        case global
    }

    var scope: Scope {
        switch self {
        case .listener, .includeDirectory, .perListenerSettings, .port, .bindAddress:
            .structure
        case .socketDomain, .protocol, .maxConnections, .maxQoS, .maxTopicAlias, .mountPoint, .httpDirectory,
             .websocketsOrigin,
             .cafile, .capath, .certfile, .keyfile, .requireCertificate, .tlsVersion, .ciphers, .ciphersTLS13,
             .dhparamfile, .useIdentityAsUsername, .useSubjectAsUsername:
            .listener
        case .allowAnonymous, .passwordFile, .aclFile, .autoIDPrefix, .allowZeroLengthClientID, .useUsernameAsClientID:
            .security
        default:
            .global
        }
    }

    /// Settings whose value is the rest of the line, spaces included, set at most once per scope (Mosquitto refuses
    /// a second one: "Duplicate ... value in configuration").
    var isText: Bool {
        switch self {
        case .httpDirectory, .mountPoint, .cafile, .capath, .certfile, .keyfile, .tlsVersion, .ciphers, .ciphersTLS13,
             .dhparamfile, .passwordFile, .aclFile, .autoIDPrefix, .persistenceLocation, .persistenceFile, .pidFile,
             .clientIDPrefixes, .logTimestampFormat, .httpAdminToken, .httpReadOnlyToken, .httpPasswordFile,
             .httpCertfile, .httpKeyfile:
            true
        default:
            false
        }
    }

    /// What Tern does with a Mosquitto setting it does not implement.
    enum Unsupported: Sendable, Equatable {
        /// Ignoring it could expose the broker or change who may connect: loading fails with this reason.
        case refused(String)
        /// Harmless to ignore: a warning with this reason, and the broker starts.
        case ignored(String)
        /// A bridge setting: bridges are not supported; ignored with a warning.
        case bridge
    }

    /// Mosquitto 2.0 settings Tern knows of but does not implement.
    static let unsupported: [String: Unsupported] = {
        var table: [String: Unsupported] = [:]
        table["bind_interface"] = .refused("binding to a network interface is not supported; give the interface's "
                                           + "address on the \"listener\" line instead")
        table["psk_hint"] = .refused("TLS with pre-shared keys is not supported")
        table["psk_file"] = .refused("TLS with pre-shared keys is not supported")
        table["crlfile"] = .refused("certificate revocation lists are not supported")
        table["tls_engine"] = .refused("OpenSSL engines are not supported")
        table["tls_engine_kpass_sha1"] = .refused("OpenSSL engines are not supported")
        table["tls_keyform"] = .refused("OpenSSL engines are not supported; keys are PEM files")
        for plugin in ["auth_plugin", "plugin", "auth_plugin_deny_special_chars"] {
            table[plugin] = .refused("plugins are not supported")
        }
        for ignored in ["user", "log_facility", "memory_limit",
                        "allow_duplicate_messages", "autosave_on_changes", "check_retain_source", "retry_interval",
                        "websockets_log_level", "websockets_headers_size", "maximum_qos"]
        {
            table[ignored] = .ignored("not supported by Tern; ignored")
        }
        for bridge in ["connection", "address", "addresses", "topic", "bridge_attempt_unsubscribe",
                       "bridge_bind_address", "bridge_cafile", "bridge_capath", "bridge_certfile", "bridge_identity",
                       "bridge_insecure", "bridge_keyfile", "bridge_max_packet_size", "bridge_outgoing_retain",
                       "bridge_protocol_version", "bridge_psk", "bridge_require_ocsp", "bridge_tls_version",
                       "bridge_alpn", "cleansession", "local_cleansession", "clientid", "remote_clientid",
                       "idle_timeout", "keepalive_interval", "local_clientid", "local_password", "local_username",
                       "notifications", "notifications_local_only", "notification_topic", "password",
                       "remote_password", "restart_timeout", "round_robin", "start_type", "threshold", "try_private",
                       "username", "remote_username"]
        {
            table[bridge] = .bridge
        }
        return table
    }()

    /// Whether `key` is one of the prefixed plugin option families (`auth_opt_*`, `plugin_opt_*`).
    static func isPluginOption(_ key: String) -> Bool {
        key.hasPrefix("auth_opt_") || key.hasPrefix("plugin_opt_")
    }
}
