import MQTTCore

/// Counters the broker core keeps; the server exports them ($SYS, metrics). Each is a plain integer bumped on the
/// broker's event loop and read when someone asks (a `$SYS` update, a metrics scrape).
public struct BrokerStatistics: Sendable, Hashable {
    /// PUBLISH packets received from clients.
    public var messagesReceived = 0
    /// PUBLISH packets sent to clients.
    public var messagesSent = 0
    /// Messages not delivered to a subscriber: queue full, expired, too large for it, or QoS 0 to an offline one;
    /// and publications refused (not authorized, above `message_size_limit`). By cause in `drops`.
    public var messagesDropped = 0
    /// Of those, messages dropped because a queue limit was reached.
    public var queuedMessagesDropped = 0
    /// Messages queued for sessions now (offline, or with a full inflight window).
    public var messagesQueued = 0
    public var connectionsAccepted = 0
    public var connectionsRefused = 0
    /// Those refusals by the reason code of their CONNACK; nil for connections closed without one (a malformed
    /// MQTT 3.1.1 CONNECT, which gets no CONNACK [MQTT-3.1.4-1]).
    public var refusals: [ReasonCode?: Int] = [:]
    /// The highest number of clients connected at once.
    public var maximumConnectedClients = 0
    /// Sessions ended by their expiry interval while disconnected.
    public var sessionsExpired = 0
    /// Times a publisher was held back by publisher flow control (a subscriber's queue at its mark).
    public var publishersHeldBack = 0
    /// PUBLISH packets and payload bytes received, by QoS.
    public var received = TrafficByQoS()
    /// PUBLISH packets and payload bytes sent, by QoS.
    public var sent = TrafficByQoS()
    public var drops = DropCounts()
    /// How long messages waited in the broker between routing and being written to the subscriber (0 for
    /// those sent at once, the queue time for the others).
    public var deliveryLatency = LatencyHistogram()

    public init() {}

    mutating func recordRefusal(_ reasonCode: ReasonCode?) {
        connectionsRefused += 1
        refusals[reasonCode, default: 0] += 1
    }

    mutating func recordReceived(_ qos: QoS, payloadBytes: Int) {
        messagesReceived += 1
        received.record(qos, bytes: payloadBytes)
    }

    mutating func recordSent(_ qos: QoS, payloadBytes: Int) {
        messagesSent += 1
        sent.record(qos, bytes: payloadBytes)
    }

    mutating func recordDrop(_ cause: DropCause, count: Int = 1) {
        messagesDropped += count
        drops[cause] += count
    }
}
