import MQTTCore

/// What the admin API shows of one session: a copy made on the broker's event loop, safe to hand elsewhere.
public struct SessionSummary: Sendable, Hashable {
    /// One subscription of the session, as the client wrote its filter (`$share/group/...` included).
    public struct Subscription: Sendable, Hashable {
        public var topicFilter: String
        public var qos: Int
        public var subscriptionIdentifier: UInt32?
    }

    public var clientID: String
    public var connected: Bool
    /// The live connection, for the server to add what it knows of it (the client's address).
    public var connection: ConnectionID?
    /// The client's network address while connected; the server fills it in.
    public var remoteAddress: String?
    /// The MQTT version of the last connection: "3.1", "3.1.1" or "5.0".
    public var protocolVersion: String
    /// The user name of the live connection; nil when anonymous or disconnected.
    public var username: String?
    /// Seconds the session outlives its connection; nil for never.
    public var expiryInterval: UInt32?
    /// Seconds left before a disconnected session expires; nil while connected or when it never expires.
    public var expiresIn: Int64?
    public var subscriptions: [Subscription]
    /// Outbound QoS 1 and 2 messages awaiting the client's acknowledgement.
    public var inflight: Int
    /// Messages waiting for room in the inflight window or for the client to come back.
    public var queued: Int
    /// Messages dropped for this session because its queue was full.
    public var dropped: Int
}
