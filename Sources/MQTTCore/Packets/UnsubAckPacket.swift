/// UNSUBACK (section 3.11). MQTT 5.0 carries one reason code per topic filter; 3.1 and 3.1.1 carry none.
public struct UnsubAckPacket: Hashable, Sendable, CustomStringConvertible {
    public var packetIdentifier: UInt16
    /// Empty when decoded from 3.1 or 3.1.1; ignored when encoding for them.
    public var reasonCodes: [ReasonCode]
    public var properties: Properties

    public init(packetIdentifier: UInt16, reasonCodes: [ReasonCode] = [], properties: Properties = []) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }

    public var description: String {
        "id=\(packetIdentifier) \(reasonCodes)" + (properties.isEmpty ? "" : " \(properties)")
    }
}
