/// SUBACK: one reason code per requested subscription, in order (section 3.9).
public struct SubAckPacket: Hashable, Sendable, CustomStringConvertible {
    public var packetIdentifier: UInt16
    /// `grantedQoS0/1/2` for success; for 3.1 and 3.1.1 every failure code is encoded as 0x80.
    public var reasonCodes: [ReasonCode]
    public var properties: Properties

    public init(packetIdentifier: UInt16, reasonCodes: [ReasonCode], properties: Properties = []) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }

    public var description: String {
        "id=\(packetIdentifier) \(reasonCodes)" + (properties.isEmpty ? "" : " \(properties)")
    }
}
