/// An MQTT control packet of any of the 15 types, as the decoder produces it and the encoder consumes it.
///
/// The same model serves MQTT 3.1, 3.1.1 and 5.0: fields a version lacks (properties, reason codes on acks)
/// are ignored when encoding for that version and take their defaults when decoding it.
public enum Packet: Hashable, Sendable, CustomStringConvertible {
    // Boxed: a CONNECT (128 bytes) made every packet 128 bytes, and each move of one (decoded, queued in a read's
    // batch, taken out, switched on) copied them all; a PUBLISH takes 56. One allocation per connection instead.
    indirect case connect(ConnectPacket)
    case connack(ConnAckPacket)
    case publish(PublishPacket)
    case puback(PublishAckPacket)
    case pubrec(PublishAckPacket)
    case pubrel(PublishAckPacket)
    case pubcomp(PublishAckPacket)
    case subscribe(SubscribePacket)
    case suback(SubAckPacket)
    case unsubscribe(UnsubscribePacket)
    case unsuback(UnsubAckPacket)
    case pingreq
    case pingresp
    case disconnect(DisconnectPacket)
    /// MQTT 5.0 only.
    case auth(AuthPacket)

    /// The packet's type.
    public var type: PacketType {
        switch self {
        case .connect: .connect
        case .connack: .connack
        case .publish: .publish
        case .puback: .puback
        case .pubrec: .pubrec
        case .pubrel: .pubrel
        case .pubcomp: .pubcomp
        case .subscribe: .subscribe
        case .suback: .suback
        case .unsubscribe: .unsubscribe
        case .unsuback: .unsuback
        case .pingreq: .pingreq
        case .pingresp: .pingresp
        case .disconnect: .disconnect
        case .auth: .auth
        }
    }

    public var description: String {
        switch self {
        case .connect(let p): "CONNECT(\(p))"
        case .connack(let p): "CONNACK(\(p))"
        case .publish(let p): "PUBLISH(\(p))"
        case .puback(let p): "PUBACK(\(p))"
        case .pubrec(let p): "PUBREC(\(p))"
        case .pubrel(let p): "PUBREL(\(p))"
        case .pubcomp(let p): "PUBCOMP(\(p))"
        case .subscribe(let p): "SUBSCRIBE(\(p))"
        case .suback(let p): "SUBACK(\(p))"
        case .unsubscribe(let p): "UNSUBSCRIBE(\(p))"
        case .unsuback(let p): "UNSUBACK(\(p))"
        case .pingreq: "PINGREQ"
        case .pingresp: "PINGRESP"
        case .disconnect(let p): "DISCONNECT(\(p))"
        case .auth(let p): "AUTH(\(p))"
        }
    }
}
