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
    /// A QoS 1 or 2 publication refused while the store cannot commit (a full disk).
    case storeUnavailable = "store_unavailable"
    /// A publication whose topic is longer or deeper than `max_topic_length` or `max_topic_levels`.
    case topicLimit = "topic_limit"
    /// QoS 0 for a connected subscriber that does not read fast enough: its socket's write buffer was full.
    case slowConsumer = "slow_consumer"
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
        case .storeUnavailable: 7
        case .topicLimit: 8
        case .slowConsumer: 9
        }
    }
}
