import MQTTCore

/// The limits and switches the broker core applies; the server builds them from its configuration.
public struct BrokerSettings: Sendable {
    /// Largest packet accepted from clients, advertised to MQTT 5 clients as Maximum Packet Size.
    public var maximumPacketSize: Int = MQTTPacketDecoder.largestPossiblePacketSize
    /// Inbound QoS 1 and 2 publications a client may have unacknowledged (advertised Receive Maximum).
    public var receiveMaximum: UInt16 = 65_535
    /// Highest topic alias accepted from a client (advertised Topic Alias Maximum); 0 disables aliases.
    public var topicAliasMaximum: UInt16 = 10
    /// Highest QoS the broker supports.
    public var maximumQoS: QoS = .exactlyOnce
    public var retainAvailable = true
    /// Outbound QoS 1 and 2 messages in flight per client, in addition to the client's own Receive Maximum
    /// (Mosquitto's `max_inflight_messages`; 0 means no limit of the broker's own).
    public var maximumInflightMessages: Int = 20
    /// Outbound QoS 1 and 2 payload bytes in flight per client (Mosquitto's `max_inflight_bytes`); 0 means no limit.
    public var maximumInflightBytes: Int = 0
    /// Messages queued per offline or busy session (Mosquitto's `max_queued_messages`); 0 means no limit.
    public var maximumQueuedMessages: Int = 1000
    /// Payload bytes queued per session (Mosquitto's `max_queued_bytes`); 0 means no limit.
    public var maximumQueuedBytes: Int = 0
    /// Messages queued for all sessions together (Tern's `max_queued_messages_total`); 0 means no limit.
    public var maximumQueuedMessagesInTotal: Int = 0
    /// Retained messages sent on SUBSCRIBE at a time: the next batch goes when the subscriber has taken this one
    /// (see `Broker.continueRetained`). Batches are separated by a pause in which the event loop serves its other
    /// sockets (`ConnectionTable.scheduleRetainedTurn`), about 50 µs with its timer's wake-up: with 1,000 per batch
    /// those pauses were a sixth of the time a million small retained messages took (0.275 against 0.228 s);
    /// 4,000 small messages take about 1 ms of the loop, and larger ones stop a batch earlier, when the socket's
    /// write buffer is full.
    public var retainedBatchSize: Int = 4000
    /// With a store: how many queued messages of a stored session are kept in memory; the rest stays in the
    /// store and is read back this many at a time as the queue drains. 0 keeps every queued message in memory.
    public var queuePageSize: Int = 100
    /// Whether QoS 0 messages are queued for offline persistent sessions (Mosquitto's `queue_qos0_messages`).
    public var queueQoS0Messages = false
    /// Keep alive imposed on clients (MQTT 5 Server Keep Alive); nil accepts the client's value.
    public var serverKeepAlive: UInt16?
    /// Upper bound on the keep alive a client may ask for (Mosquitto's `max_keepalive`); 0 means no bound.
    public var maximumKeepAlive: UInt16 = 0
    /// Seconds a new connection may take to send CONNECT.
    public var connectTimeout: Int64 = 10
    /// Whether a client may connect with an empty client identifier and get one assigned.
    public var allowZeroLengthClientID = true
    /// Prefix of assigned client identifiers (Mosquitto's `auto_id_prefix`).
    public var assignedClientIDPrefix = "auto-"
    /// The prefix every client identifier must start with (Mosquitto's `clientid_prefixes`); others get CONNACK
    /// 0x87 Not authorized. Nil lets every identifier in.
    public var requiredClientIDPrefix: String?
    /// Prefix of the Response Information sent to MQTT 5 clients that request it; the client identifier follows.
    public var responseInformationPrefix = "responses/"
    /// Expiry for v3 persistent sessions, in seconds (Mosquitto's `persistent_client_expiration`); nil = never.
    public var persistentSessionExpiry: UInt32?
    /// Largest PUBLISH payload accepted, in bytes (Mosquitto's `message_size_limit`); 0 means no limit. A larger
    /// message is dropped; MQTT 5 clients get PUBACK or PUBREC 0x83 (Implementation specific error).
    public var messageSizeLimit: Int = 0
    /// Deliver at the subscription's QoS even when the message was published at a lower one (Mosquitto's
    /// `upgrade_outgoing_qos`; not what the specification says [MQTT-3.8.4-8], so off by default).
    public var upgradeOutgoingQoS = false
    /// `publisher_flow_control`: stop reading a publisher whose messages fill a live subscriber's queue, until it
    /// drains (see `Broker+FlowControl.swift`); off, such messages are dropped at the queue limits, as Mosquitto does.
    public var publisherFlowControl = true

    // Limits against hostile or runaway clients (docs/limits.md).

    /// Connections open at once, those still sending CONNECT included (the broker-wide `max_connections`); 0
    /// means no limit. A CONNECT beyond it gets CONNACK 0x89 Server Busy (3.1.1: return code 3).
    public var maximumConnections: Int = 0
    /// New connections per second, broker-wide (`max_connection_rate`); 0 means no limit. A CONNECT beyond it
    /// gets CONNACK 0x9F Connection Rate Exceeded (3.1.1: return code 3).
    public var maximumConnectionRate: Int = 0
    /// Longest client identifier, in UTF-8 bytes (`max_client_id_length`); longer ones get CONNACK 0x85 Client
    /// Identifier not valid (3.1.1: return code 2).
    public var maximumClientIDLength: Int = 65_535
    /// Longest topic name or filter, in UTF-8 bytes (`max_topic_length`).
    public var maximumTopicLength: Int = 65_535
    /// Most levels in a topic name or filter (`max_topic_levels`); 0 means no limit.
    public var maximumTopicLevels: Int = 128
    /// Most subscriptions one session holds (`max_subscriptions_per_client`); 0 means no limit. A SUBSCRIBE
    /// beyond it gets SUBACK 0x97 Quota Exceeded for the filters that do not fit (3.1.1: 0x80 Failure).
    public var maximumSubscriptionsPerClient: Int = 0
    /// Most User Properties in one packet (`max_user_properties`), wills included; 0 means no limit.
    public var maximumUserProperties: Int = 128

    public init() {}
}
