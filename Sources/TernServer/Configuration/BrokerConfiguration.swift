import MQTTCore
import TernBroker

/// Everything the broker is configured with: the resolved, validated value of a Mosquitto 2.0-style
/// configuration file (mosquitto.conf(5)) and Tern's own settings. Nothing but `load` reads the file.
///
/// Loading is a pure function of the files and the current directory, so reloading (SIGHUP) is: load again and,
/// when that succeeds, swap the new value in.
public struct BrokerConfiguration: Sendable, Equatable {
    /// Where clients connect, in the order written; never empty.
    public var listeners: [Listener]
    /// True when the file defines no listener (or there is no file): the broker listens on 127.0.0.1 and ::1 only
    /// and, unless the file says `allow_anonymous false`, lets anonymous clients in (Mosquitto 2.0's local-only
    /// mode).
    public var isLocalOnly: Bool
    /// `per_listener_settings`: whether `security` settings are per listener (each listener's `security`) or
    /// broker-wide (this value's `security`, copied into every listener).
    public var perListenerSettings: Bool
    /// The broker-wide security settings. With `perListenerSettings` they are the defaults and every listener
    /// carries its own.
    public var security: Security

    /// `max_keepalive`: the longest keep alive a client may ask for, in seconds; nil sets no bound.
    public var maxKeepAlive: UInt16?
    /// `max_packet_size`: the largest packet accepted, in bytes; nil (or 0 in the file) means no limit.
    public var maxPacketSize: Int?
    /// `message_size_limit`: the largest PUBLISH payload accepted, in bytes; 0 means no limit.
    public var messageSizeLimit: Int
    /// `clientid_prefixes`: the prefix every client identifier must start with; nil allows all.
    public var clientIDPrefixes: String?
    /// `max_inflight_messages`: outgoing QoS 1 and 2 messages in flight per client; 0 means no limit.
    public var maxInflightMessages: Int
    /// `max_inflight_bytes`: outgoing QoS 1 and 2 bytes in flight per client; 0 means no limit.
    public var maxInflightBytes: Int
    /// `max_queued_messages`: messages queued per client beyond those in flight; 0 means no limit.
    public var maxQueuedMessages: Int
    /// `max_queued_bytes`: bytes queued per client beyond those in flight; 0 means no limit.
    public var maxQueuedBytes: Int
    /// `max_queued_messages_total` (Tern's): messages queued for all sessions together; 0 means no limit.
    public var maxQueuedMessagesTotal: Int
    /// `queue_qos0_messages`: whether QoS 0 messages are queued for disconnected persistent sessions.
    public var queueQoS0Messages: Bool
    /// `retain_available`: whether retained messages are supported.
    public var retainAvailable: Bool
    /// `persistent_client_expiration`, in seconds: how long a disconnected MQTT 3 persistent session is kept;
    /// nil keeps it forever.
    public var persistentClientExpiration: UInt32?
    /// `upgrade_outgoing_qos`: deliver at the subscription's QoS even when the message's is lower (non-standard).
    public var upgradeOutgoingQoS: Bool
    /// `publisher_flow_control` (Tern's): hold back a publisher that fills a live subscriber's queue.
    public var publisherFlowControl: Bool
    /// `set_tcp_nodelay`: Mosquitto's switch for TCP_NODELAY on client sockets (Tern always sets it).
    public var setTCPNoDelay: Bool
    /// `sys_interval`: seconds between `$SYS` updates; 0 disables them.
    public var sysInterval: Int
    public var persistence: Persistence
    public var logging: LogSettings

    /// `server_keep_alive` (Tern): the keep alive imposed on every client, sent to MQTT 5 clients as Server Keep
    /// Alive; nil accepts the client's own (bounded by `maxKeepAlive`).
    public var serverKeepAlive: UInt16?
    /// `topic_alias_maximum` (Tern), or Mosquitto's `max_topic_alias` outside any listener block (with no default
    /// listener): the highest topic alias a client may use; 0 disables aliases.
    public var topicAliasMaximum: UInt16
    /// `max_qos` outside any listener block (with no default listener): the highest QoS clients may publish with or
    /// be granted (Maximum QoS).
    public var maximumQoS: QoS
    /// `receive_maximum` (Tern): QoS 1 and 2 messages a client may have unacknowledged towards the broker.
    public var receiveMaximum: UInt16
    /// `connect_timeout` (Tern): seconds a new connection may take to send CONNECT.
    public var connectTimeout: Int
    /// `max_connections` written outside any listener block with no default listener (Tern): connections open at
    /// once, all listeners together; 0 means no limit.
    public var maxConnections: Int
    /// `max_connection_rate` (Tern): new connections per second, broker-wide; 0 means no limit.
    public var maxConnectionRate: Int
    /// `max_client_id_length` (Tern): the longest client identifier, in bytes.
    public var maxClientIDLength: Int
    /// `max_topic_length` (Tern): the longest topic name or filter, in bytes.
    public var maxTopicLength: Int
    /// `max_topic_levels` (Tern): the most levels in a topic name or filter; 0 means no limit.
    public var maxTopicLevels: Int
    /// `max_subscriptions_per_client` (Tern): subscriptions per session; 0 means no limit.
    public var maxSubscriptionsPerClient: Int
    /// `max_user_properties` (Tern): User Properties per packet; 0 means no limit.
    public var maxUserProperties: Int
    /// `max_publish_rate` (Tern): PUBLISH packets per second read from one connection; 0 means no limit.
    public var maxPublishRate: Int
    /// `max_publish_bytes_rate` (Tern): bytes per second read from one connection; 0 means no limit.
    public var maxPublishBytesRate: Int
    /// `max_write_buffer` (Tern): bytes written to a connection and not yet sent beyond which it counts as a slow
    /// consumer (its socket's high water mark): QoS 0 messages for it are dropped until it drains.
    public var maxWriteBuffer: Int
    /// `event_loops` (Tern): threads for the network. With 1, the broker core and every connection share one;
    /// with N above 1, the core has one of its own and the connections (reading, decoding and writing their
    /// sockets) are spread over the N - 1 others.
    public var eventLoops: Int
    /// `http_listener` and the other `http_*` settings (Tern); nil when there is no HTTP listener.
    public var http: HTTPSettings?
    /// `pid_file`: where `tern serve` writes its process id while it runs; absolute.
    public var pidFile: String?

    /// The files read, main file first, then included files in the order read; as they were named.
    public var files: [String]

    /// The defaults of every broker-wide setting, with the given listeners.
    init(listeners: [Listener], isLocalOnly: Bool, perListenerSettings: Bool = false,
         security: Security = Security())
    {
        self.listeners = listeners
        self.isLocalOnly = isLocalOnly
        self.perListenerSettings = perListenerSettings
        self.security = security
        maxKeepAlive = nil
        maxPacketSize = nil
        messageSizeLimit = 0
        maxInflightMessages = 20
        maxInflightBytes = 0
        maxQueuedMessages = 1000
        maxQueuedBytes = 0
        maxQueuedMessagesTotal = 0
        queueQoS0Messages = false
        retainAvailable = true
        persistentClientExpiration = nil
        upgradeOutgoingQoS = false
        publisherFlowControl = true
        setTCPNoDelay = false
        sysInterval = 10
        persistence = Persistence()
        logging = LogSettings()
        serverKeepAlive = nil
        topicAliasMaximum = 10
        maximumQoS = .exactlyOnce
        receiveMaximum = 65_535
        connectTimeout = 10
        let limits = BrokerSettings()
        maxConnections = limits.maximumConnections
        maxConnectionRate = limits.maximumConnectionRate
        maxClientIDLength = limits.maximumClientIDLength
        maxTopicLength = limits.maximumTopicLength
        maxTopicLevels = limits.maximumTopicLevels
        maxSubscriptionsPerClient = limits.maximumSubscriptionsPerClient
        maxUserProperties = limits.maximumUserProperties
        maxPublishRate = 0
        maxPublishBytesRate = 0
        maxWriteBuffer = 1 << 20
        eventLoops = 1
        http = nil
        files = []
    }

    /// The configuration with no file: Mosquitto 2.0's defaults, listening on 127.0.0.1 and ::1 at `port` only and
    /// letting anonymous clients in.
    public static func `default`(port: Int = 1883) -> BrokerConfiguration {
        let security = Security(allowAnonymous: true)
        return BrokerConfiguration(listeners: loopbackListeners(port: port, security: security), isLocalOnly: true,
                                   security: security)
    }

    /// Reads a configuration file (and the files its `include_dir` lines name) and resolves it.
    ///
    /// - Parameters:
    ///   - path: the file, as given on the command line; a relative path is read from `currentDirectory`.
    ///   - port: the port of the loopback listeners used when the file defines no listener (`tern serve -p`);
    ///     ignored when it defines one, as Mosquitto 2.0 does.
    ///   - currentDirectory: what relative paths in the file and `path` itself are resolved against; the process's
    ///     current directory when nil. Paths in the result are absolute.
    /// - Returns: the configuration, and the warnings to log (unknown or ignored settings, each with file and line).
    /// - Throws: the first error found (bad value, missing value, setting in the wrong place, unreadable file);
    ///   the broker must not start with that file.
    public static func load(path: String, port: Int = 1883, currentDirectory: String? = nil)
        throws(ConfigurationDiagnostic) -> (configuration: BrokerConfiguration, warnings: [ConfigurationDiagnostic])
    {
        var parser = ConfigurationParser(currentDirectory: currentDirectory ?? ConfigurationFiles.currentDirectory())
        try parser.read(mainFile: path)
        let configuration = try parser.resolve(defaultPort: port)
        return (configuration, parser.warnings)
    }

    /// The broker core's settings for this configuration.
    ///
    /// With `perListenerSettings`, `allow_zero_length_clientid` and `auto_id_prefix` may differ per listener while
    /// the core has one value of each: they come from the broker-wide `security` here, and `tern serve` gives
    /// each listener its own (`MQTTServer.Listener.clientIdentifiers`).
    public func brokerSettings() -> BrokerSettings {
        var settings = BrokerSettings()
        if let maxPacketSize { settings.maximumPacketSize = maxPacketSize }
        settings.receiveMaximum = receiveMaximum
        settings.topicAliasMaximum = topicAliasMaximum
        settings.maximumQoS = maximumQoS
        settings.retainAvailable = retainAvailable
        settings.maximumInflightMessages = maxInflightMessages
        settings.maximumInflightBytes = maxInflightBytes
        settings.maximumQueuedMessages = maxQueuedMessages
        settings.maximumQueuedBytes = maxQueuedBytes
        settings.maximumQueuedMessagesInTotal = maxQueuedMessagesTotal
        settings.queueQoS0Messages = queueQoS0Messages
        settings.queuePageSize = persistence.queuePageSize
        settings.serverKeepAlive = serverKeepAlive
        settings.maximumKeepAlive = maxKeepAlive ?? 0
        settings.connectTimeout = Int64(connectTimeout)
        settings.allowZeroLengthClientID = security.allowZeroLengthClientID
        settings.assignedClientIDPrefix = security.autoIDPrefix
        settings.persistentSessionExpiry = persistentClientExpiration
        settings.messageSizeLimit = messageSizeLimit
        settings.requiredClientIDPrefix = clientIDPrefixes
        settings.upgradeOutgoingQoS = upgradeOutgoingQoS
        settings.publisherFlowControl = publisherFlowControl
        settings.maximumConnections = maxConnections
        settings.maximumConnectionRate = maxConnectionRate
        settings.maximumClientIDLength = maxClientIDLength
        settings.maximumTopicLength = maxTopicLength
        settings.maximumTopicLevels = maxTopicLevels
        settings.maximumSubscriptionsPerClient = maxSubscriptionsPerClient
        settings.maximumUserProperties = maxUserProperties
        return settings
    }

    /// The server's per-connection limits for this configuration.
    public func connectionLimits() -> ConnectionLimits {
        ConnectionLimits(publishRate: maxPublishRate, bytesRate: maxPublishBytesRate, writeBuffer: maxWriteBuffer)
    }

    /// Mosquitto 2.0's local-only listeners: the IPv4 and IPv6 loopback addresses.
    static func loopbackListeners(port: Int, security: Security) -> [Listener] {
        [Listener(port: port, address: "127.0.0.1", security: security),
         Listener(port: port, address: "::1", security: security)]
    }
}
