/// The MQTT protocol versions Tern speaks, by the protocol level byte of CONNECT.
public enum ProtocolVersion: UInt8, Hashable, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3.
    case v3_1 = 3
    /// MQTT 3.1.1: protocol name `MQTT`, level 4.
    case v3_1_1 = 4
    /// MQTT 5.0: protocol name `MQTT`, level 5.
    case v5 = 5

    /// The protocol name a CONNECT of this version carries.
    public var protocolName: String { self == .v3_1 ? "MQIsdp" : "MQTT" }

    /// True for MQTT 5.0, the only version with properties, reason codes on every ack, and AUTH.
    @inlinable
    public var hasProperties: Bool { self == .v5 }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .v3_1: "3.1"
        case .v3_1_1: "3.1.1"
        case .v5: "5.0"
        }
    }
}
