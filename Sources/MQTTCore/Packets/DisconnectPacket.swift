/// DISCONNECT (section 3.14). In 3.1 and 3.1.1 only a client sends it and it carries nothing; in 5.0 either side
/// sends it, with a reason code and properties.
public struct DisconnectPacket: Hashable, Sendable, CustomStringConvertible {
    public var reasonCode: ReasonCode
    public var properties: Properties

    public init(reasonCode: ReasonCode = .normalDisconnection, properties: Properties = []) {
        self.reasonCode = reasonCode
        self.properties = properties
    }

    public var description: String { "\(reasonCode)" + (properties.isEmpty ? "" : " \(properties)") }
}
