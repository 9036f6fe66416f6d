/// Why a packet cannot be encoded as asked.
public enum MQTTEncodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The encoded packet would exceed the peer's maximum packet size even after dropping what the specification
    /// allows to drop (the Reason String, then user properties, on packets other than PUBLISH) [MQTT-3.1.2-24].
    case packetTooLarge(size: Int, maximum: Int)
    /// The packet does not exist in this protocol version (AUTH before 5.0).
    case unsupportedInVersion(PacketType, ProtocolVersion)
    /// A string or binary field longer than 65,535 bytes.
    case fieldTooLong(Int)
    /// A remaining length above 268,435,455 bytes, the most four length bytes can say.
    case remainingLengthTooLarge(Int)
    /// QoS above 0 without a packet identifier, or QoS 0 with one.
    case packetIdentifierMismatch

    public var description: String {
        switch self {
        case .packetTooLarge(let size, let maximum): "packet of \(size) bytes exceeds the maximum of \(maximum)"
        case .unsupportedInVersion(let type, let version): "\(type) does not exist in MQTT \(version)"
        case .fieldTooLong(let length): "field of \(length) bytes exceeds 65,535"
        case .remainingLengthTooLarge(let length): "remaining length \(length) exceeds 268,435,455"
        case .packetIdentifierMismatch: "a packet identifier is required exactly for QoS 1 and 2"
        }
    }
}
