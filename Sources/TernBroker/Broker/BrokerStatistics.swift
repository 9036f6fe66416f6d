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
    public var connectionsAccepted = 0
    public var connectionsRefused = 0
    /// The highest number of clients connected at once.
    public var maximumConnectedClients = 0
    /// Sessions ended by their expiry interval while disconnected.
    public var sessionsExpired = 0
    /// PUBLISH packets and payload bytes received, by QoS.
    public var received = TrafficByQoS()
    /// PUBLISH packets and payload bytes sent, by QoS.
    public var sent = TrafficByQoS()
    public var drops = DropCounts()
    /// How long messages waited in the broker between routing and being written to the subscriber (0 for
    /// those sent at once, the queue time for the others).
    public var deliveryLatency = LatencyHistogram()

    public init() {}

    mutating func recordReceived(_ qos: QoS, payloadBytes: Int) {
        messagesReceived += 1
        received.record(qos, bytes: payloadBytes)
    }

    mutating func recordSent(_ qos: QoS, payloadBytes: Int) {
        messagesSent += 1
        sent.record(qos, bytes: payloadBytes)
    }

    mutating func recordDrop(_ cause: DropCause) {
        messagesDropped += 1
        drops[cause] += 1
    }
}

/// Why a message was not delivered (or a publication not accepted).
public enum DropCause: String, Sendable, CaseIterable {
    /// The publisher may not publish there (ACL, `$SYS`), or a queued message is no longer readable by its
    /// subscriber.
    case notAuthorized = "not_authorized"
    /// Larger than `message_size_limit`.
    case tooLarge = "too_large"
    /// Larger than the subscriber's Maximum Packet Size [MQTT-3.1.2-25].
    case packetTooLarge = "packet_too_large"
    /// The subscriber's queue held `max_queued_messages` already.
    case queueFull = "queue_full"
    /// QoS 0 for a disconnected subscriber without `queue_qos0_messages`.
    case offlineQoS0 = "offline_qos0"
    /// Its Message Expiry Interval passed before it could be sent [MQTT-3.3.2-5].
    case expired
    /// Its session ended (expired, cleaned) while the message was queued or in flight.
    case sessionEnded = "session_ended"
}

/// Drops, by cause.
public struct DropCounts: Sendable, Hashable {
    private var counts = [Int](repeating: 0, count: DropCause.allCases.count)

    public subscript(cause: DropCause) -> Int {
        get { counts[cause.index] }
        set { counts[cause.index] = newValue }
    }
}

extension DropCause {
    fileprivate var index: Int {
        switch self {
        case .notAuthorized: 0
        case .tooLarge: 1
        case .packetTooLarge: 2
        case .queueFull: 3
        case .offlineQoS0: 4
        case .expired: 5
        case .sessionEnded: 6
        }
    }
}

/// Message and payload byte counts by QoS.
public struct TrafficByQoS: Sendable, Hashable {
    private var messageCounts = (0, 0, 0)
    private var byteCounts = (0, 0, 0)

    public func messages(_ qos: QoS) -> Int {
        switch qos {
        case .atMostOnce: messageCounts.0
        case .atLeastOnce: messageCounts.1
        case .exactlyOnce: messageCounts.2
        }
    }

    public func bytes(_ qos: QoS) -> Int {
        switch qos {
        case .atMostOnce: byteCounts.0
        case .atLeastOnce: byteCounts.1
        case .exactlyOnce: byteCounts.2
        }
    }

    /// Payload bytes over every QoS.
    public var totalBytes: Int { byteCounts.0 + byteCounts.1 + byteCounts.2 }

    mutating func record(_ qos: QoS, bytes: Int) {
        switch qos {
        case .atMostOnce: messageCounts.0 += 1; byteCounts.0 += bytes
        case .atLeastOnce: messageCounts.1 += 1; byteCounts.1 += bytes
        case .exactlyOnce: messageCounts.2 += 1; byteCounts.2 += bytes
        }
    }

    public static func == (lhs: TrafficByQoS, rhs: TrafficByQoS) -> Bool {
        lhs.messageCounts == rhs.messageCounts && lhs.byteCounts == rhs.byteCounts
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(messageCounts.0); hasher.combine(messageCounts.1); hasher.combine(messageCounts.2)
        hasher.combine(byteCounts.0); hasher.combine(byteCounts.1); hasher.combine(byteCounts.2)
    }
}
