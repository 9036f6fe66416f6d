/// Why bytes received from a peer are not a valid MQTT packet. Each case carries the MQTT 5.0 reason code the
/// receiver answers with (DISCONNECT or CONNACK with that code for 5.0; for 3.1 and 3.1.1, closing the
/// connection, or a CONNACK return code where one exists).
public enum MQTTDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The packet's size, known from its fixed header, exceeds the receiver's maximum packet size.
    case packetTooLarge(size: Int, maximum: Int)
    /// A variable byte integer longer than 4 bytes, or not in its shortest form [MQTT-1.5.5-1].
    case malformedVariableByteInteger
    /// Packet type 0, or AUTH (15) before MQTT 5.0.
    case reservedPacketType(UInt8)
    /// Fixed header flag bits that this packet type reserves have the wrong value [MQTT-2.1.3-1].
    case invalidFixedHeaderFlags(PacketType, flags: UInt8)
    /// QoS 3 in a PUBLISH or a Will [MQTT-3.3.1-4].
    case invalidQoS(UInt8)
    /// DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2].
    case duplicateFlagOnQoS0
    /// A field extends past the end of the packet.
    case truncated(PacketType)
    /// Bytes left over after the last field of the packet.
    case trailingBytes(PacketType)
    /// A UTF-8 encoded string that is not well-formed UTF-8 (which also excludes surrogates) [MQTT-1.5.4-1].
    case invalidUTF8
    /// A UTF-8 encoded string containing U+0000 [MQTT-1.5.4-2].
    case nullCharacter
    /// The CONNECT protocol name is neither `MQTT` nor `MQIsdp` [MQTT-3.1.2-1].
    case invalidProtocolName(String)
    /// A protocol level Tern does not speak, or one that does not go with the protocol name [MQTT-3.1.2-2].
    case unsupportedProtocolLevel(UInt8)
    /// CONNECT flags that break a rule: reserved bit set [MQTT-3.1.2-3], Will QoS or Will Retain without a Will
    /// [MQTT-3.1.2-11, MQTT-3.1.2-13], or (3.1.1) a password without a user name [MQTT-3.1.2-22].
    case invalidConnectFlags(UInt8)
    /// CONNACK acknowledge flags with reserved bits set [MQTT-3.2.2-1].
    case invalidConnAckFlags(UInt8)
    /// A packet other than CONNECT while the protocol version is not yet known [MQTT-3.1.0-1].
    case expectedConnect(PacketType)
    /// A packet identifier of 0 where a non-zero one is required [MQTT-2.2.1-3].
    case packetIdentifierZero(PacketType)
    /// A SUBSCRIBE or UNSUBSCRIBE without topic filters, or a SUBACK/UNSUBACK without reason codes
    /// [MQTT-3.8.3-2, MQTT-3.10.3-2].
    case emptyPayload(PacketType)
    /// Subscription options with reserved bits set or QoS 3 [MQTT-3.8.3-5], or (3.1.1) requested QoS bits
    /// reserved [MQTT-3.8.3-4]. QoS 3 with no reserved bit set maps to Protocol Error (5.0 section 3.8.3.1).
    case invalidSubscriptionOptions(UInt8)
    /// Retain Handling 3 in subscription options (a Protocol Error).
    case invalidRetainHandling
    /// A reason code (or 3.1.1 return code) that this packet type does not define.
    case invalidReasonCode(UInt8, PacketType)
    /// A property identifier MQTT 5.0 does not define.
    case unknownProperty(Int)
    /// A property this packet (or the Will Properties) may not carry.
    case propertyNotAllowed(PropertyIdentifier, PropertyScope)
    /// A property that may appear at most once appears again.
    case duplicateProperty(PropertyIdentifier)
    /// A property value the specification forbids (Receive Maximum 0, Maximum QoS 2, a boolean other than 0
    /// or 1, Subscription Identifier 0, ...).
    case invalidPropertyValue(PropertyIdentifier)
    /// A PUBLISH or Will topic name with wildcards [MQTT-3.3.2-2], or empty with no Topic Alias [MQTT-3.3.2-1].
    case invalidTopicName(String)

    /// The MQTT 5.0 reason code this error maps to.
    public var reasonCode: ReasonCode {
        switch self {
        case .packetTooLarge: .packetTooLarge
        case .unsupportedProtocolLevel, .invalidProtocolName: .unsupportedProtocolVersion
        case .expectedConnect, .packetIdentifierZero, .emptyPayload, .invalidRetainHandling, .duplicateProperty,
            .invalidPropertyValue:
            .protocolError
        case .invalidTopicName: .topicNameInvalid
        case .invalidSubscriptionOptions(let options) where options & 0xC0 == 0 && options & 0x03 == 0x03:
            // "It is a Protocol Error if the Maximum QoS field has the value 3" (5.0 section 3.8.3.1).
            .protocolError
        case .malformedVariableByteInteger, .reservedPacketType, .invalidFixedHeaderFlags, .invalidQoS,
            .duplicateFlagOnQoS0, .truncated, .trailingBytes, .invalidUTF8, .nullCharacter, .invalidConnectFlags,
            .invalidConnAckFlags, .invalidSubscriptionOptions, .invalidReasonCode, .unknownProperty,
            .propertyNotAllowed:
            .malformedPacket
        }
    }

    public var description: String {
        switch self {
        case .packetTooLarge(let size, let maximum): "packet of \(size) bytes exceeds the maximum of \(maximum)"
        case .malformedVariableByteInteger: "malformed variable byte integer"
        case .reservedPacketType(let type): "reserved packet type \(type)"
        case .invalidFixedHeaderFlags(let type, let flags): "invalid fixed header flags \(flags) for \(type)"
        case .invalidQoS(let qos): "invalid QoS \(qos)"
        case .duplicateFlagOnQoS0: "DUP flag set on a QoS 0 PUBLISH"
        case .truncated(let type): "\(type) ends before its last field"
        case .trailingBytes(let type): "unexpected bytes after the last field of \(type)"
        case .invalidUTF8: "string is not well-formed UTF-8"
        case .nullCharacter: "string contains U+0000"
        case .invalidProtocolName(let name): "unknown protocol name \"\(name)\""
        case .unsupportedProtocolLevel(let level): "unsupported protocol level \(level)"
        case .invalidConnectFlags(let flags): "invalid CONNECT flags \(flags)"
        case .invalidConnAckFlags(let flags): "invalid CONNACK flags \(flags)"
        case .expectedConnect(let type): "\(type) received before CONNECT"
        case .packetIdentifierZero(let type): "\(type) with packet identifier 0"
        case .emptyPayload(let type): "\(type) with an empty list"
        case .invalidSubscriptionOptions(let options): "invalid subscription options \(options)"
        case .invalidRetainHandling: "retain handling 3"
        case .invalidReasonCode(let code, let type): "reason code \(code) is not defined for \(type)"
        case .unknownProperty(let id): "unknown property identifier \(id)"
        case .propertyNotAllowed(let id, let scope): "\(id) is not allowed in \(scope)"
        case .duplicateProperty(let id): "\(id) appears more than once"
        case .invalidPropertyValue(let id): "invalid value for \(id)"
        case .invalidTopicName(let topic): "invalid topic name \"\(topic)\""
        }
    }
}
