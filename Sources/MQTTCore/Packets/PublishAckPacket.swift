/// PUBACK, PUBREC, PUBREL or PUBCOMP: the steps of the QoS 1 and QoS 2 exchanges (sections 3.4 to 3.7); which
/// one it is follows from the `Packet` case that holds it.
public struct PublishAckPacket: Hashable, Sendable, CustomStringConvertible {
    public var packetIdentifier: UInt16
    /// MQTT 5.0 only; 3.1 and 3.1.1 acks always mean success.
    public var reasonCode: ReasonCode
    public var properties: Properties

    public init(packetIdentifier: UInt16, reasonCode: ReasonCode = .success, properties: Properties = []) {
        self.packetIdentifier = packetIdentifier
        self.reasonCode = reasonCode
        self.properties = properties
    }

    public var description: String {
        "id=\(packetIdentifier) \(reasonCode)" + (properties.isEmpty ? "" : " \(properties)")
    }
}
