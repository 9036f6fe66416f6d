import MQTTCore

/// One message owed to a subscriber, as a store keeps it.
public struct StoredDelivery: Sendable, Hashable {
    public var message: StoredMessage
    /// The QoS and retain flag it is delivered with (per subscriber).
    public var qos: QoS
    public var retain: Bool
    public var subscriptionIdentifiers: [UInt32]
    public var sharedSubscription: SharedSubscription?

    public init(message: StoredMessage, qos: QoS, retain: Bool, subscriptionIdentifiers: [UInt32] = [],
                sharedSubscription: SharedSubscription? = nil)
    {
        self.message = message
        self.qos = qos
        self.retain = retain
        self.subscriptionIdentifiers = subscriptionIdentifiers
        self.sharedSubscription = sharedSubscription
    }
}

/// A session's own fields, as a store keeps them (section 4.1).
public struct StoredSession: Sendable, Hashable {
    public var clientID: String
    public var protocolVersion: ProtocolVersion
    /// Seconds the session outlives its connection; `UInt32.max` means never expires.
    public var expiryInterval: UInt32
    /// Wall-clock expiry (milliseconds since the Unix epoch) of a disconnected session; nil while connected or
    /// for a session that never expires. A session stored as connected was cut off by a crash: on restart it
    /// is treated as disconnected then.
    public var expiresAt: Int64?
    /// The will of the connected client (only one it may publish); published after a crash as for a lost
    /// connection.
    public var will: LastWill?
    /// A will waiting for its Will Delay Interval, and when it is due (wall clock, milliseconds).
    public var delayedWill: StoredMessage?
    public var delayedWillAt: Int64?

    public init(clientID: String, protocolVersion: ProtocolVersion, expiryInterval: UInt32, expiresAt: Int64? = nil,
                will: LastWill? = nil, delayedWill: StoredMessage? = nil, delayedWillAt: Int64? = nil)
    {
        self.clientID = clientID
        self.protocolVersion = protocolVersion
        self.expiryInterval = expiryInterval
        self.expiresAt = expiresAt
        self.will = will
        self.delayedWill = delayedWill
        self.delayedWillAt = delayedWillAt
    }
}

/// A subscription as a store keeps it: the filter as subscribed (shared ones with their `$share/group/` prefix).
public struct StoredSubscription: Sendable, Hashable {
    public var topicFilter: String
    public var options: SubscriptionOptions
    public var identifier: UInt32?

    public init(topicFilter: String, options: SubscriptionOptions, identifier: UInt32? = nil) {
        self.topicFilter = topicFilter
        self.options = options
        self.identifier = identifier
    }
}

/// An outbound QoS 1 or 2 message in flight.
public struct StoredInflight: Sendable, Hashable {
    public var packetIdentifier: UInt16
    /// Orders the session's inflight messages as they were sent.
    public var order: UInt64
    /// Whether PUBREC was received (and PUBREL sent).
    public var released: Bool
    public var delivery: StoredDelivery

    public init(packetIdentifier: UInt16, order: UInt64, released: Bool, delivery: StoredDelivery) {
        self.packetIdentifier = packetIdentifier
        self.order = order
        self.released = released
        self.delivery = delivery
    }
}

/// A message queued for a session, waiting for its client or for room in its inflight window.
public struct StoredQueuedMessage: Sendable, Hashable {
    /// Orders the session's queue; unique in the store.
    public var sequence: UInt64
    public var delivery: StoredDelivery

    public init(sequence: UInt64, delivery: StoredDelivery) {
        self.sequence = sequence
        self.delivery = delivery
    }
}

/// The part of a session's queue a store did not load: how many messages, their payload bytes and the last
/// sequence among them.
public struct StoredQueueExtent: Sendable, Hashable {
    public var count: Int
    public var payloadBytes: Int
    public var lastSequence: UInt64

    public init(count: Int = 0, payloadBytes: Int = 0, lastSequence: UInt64 = 0) {
        self.count = count
        self.payloadBytes = payloadBytes
        self.lastSequence = lastSequence
    }
}

/// Everything a store holds for one session.
public struct StoredSessionState: Sendable, Hashable {
    public var session: StoredSession
    public var subscriptions: [StoredSubscription]
    /// In the order sent.
    public var inflight: [StoredInflight]
    /// In queue order; with a head limit (`SessionStore.loadSessions(queueHeadLimit:)`), the first messages only.
    public var queue: [StoredQueuedMessage]
    /// The queued messages after `queue`, not loaded.
    public var unloadedQueue = StoredQueueExtent()
    /// Of those, the QoS 1 and 2 messages that came through a shared subscription, in queue order: loaded so that
    /// a session that ends before reading them back gives them to another member of the group (section 4.8.2).
    public var unloadedShared: [StoredQueuedMessage] = []
    /// Inbound QoS 2 packet identifiers awaiting PUBREL.
    public var inboundQoS2: [UInt16]

    public init(session: StoredSession, subscriptions: [StoredSubscription] = [], inflight: [StoredInflight] = [],
                queue: [StoredQueuedMessage] = [], inboundQoS2: [UInt16] = [])
    {
        self.session = session
        self.subscriptions = subscriptions
        self.inflight = inflight
        self.queue = queue
        self.inboundQoS2 = inboundQoS2
    }
}

/// What a store gives back at start-up.
public struct StoredState: Sendable {
    public var sessions: [StoredSessionState]
    public var retained: [StoredMessage]

    public init(sessions: [StoredSessionState] = [], retained: [StoredMessage] = []) {
        self.sessions = sessions
        self.retained = retained
    }
}
