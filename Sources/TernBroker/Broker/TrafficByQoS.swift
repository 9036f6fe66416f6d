import MQTTCore

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
