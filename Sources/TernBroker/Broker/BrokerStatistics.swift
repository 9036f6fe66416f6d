/// Counters the broker core keeps; the server exports them ($SYS, metrics).
public struct BrokerStatistics: Sendable, Hashable {
    public var messagesReceived = 0
    public var messagesSent = 0
    /// Messages not delivered to a subscriber: queue full, expired, too large for it, or QoS 0 to an offline one.
    public var messagesDropped = 0
    /// Of those, messages dropped because a queue limit was reached.
    public var queuedMessagesDropped = 0
    /// Messages queued for sessions now (offline, or with a full inflight window).
    public var messagesQueued = 0
    public var connectionsAccepted = 0
    public var connectionsRefused = 0
}
