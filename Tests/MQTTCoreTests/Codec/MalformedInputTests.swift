import MQTTCore
import NIOCore
import Testing

/// A complete frame that breaks a rule of the standard, with the error the decoder must throw and the reason code
/// that error maps to. `version` nil means a server-side decoder that has not seen CONNECT yet.
struct MalformedInput: Sendable, CustomTestStringConvertible {
    let name: String
    let version: ProtocolVersion?
    let wire: [UInt8]
    let error: MQTTDecodingError
    let reasonCode: ReasonCode

    init(_ name: String, _ version: ProtocolVersion?, _ wire: String, _ error: MQTTDecodingError,
         _ reasonCode: ReasonCode)
    {
        self.name = name
        self.version = version
        self.wire = Wire.bytes(wire)
        self.error = error
        self.reasonCode = reasonCode
    }

    var testDescription: String { "\(version.map { "MQTT \($0)" } ?? "before CONNECT"): \(name)" }

    var decoder: MQTTPacketDecoder { MQTTPacketDecoder(protocolVersion: version) }
}

private let malformed: ReasonCode = .malformedPacket
private let protocolError: ReasonCode = .protocolError

enum MalformedInputs {
    // MARK: Fixed header: variable byte integers, packet types, reserved flags

    static let fixedHeader: [MalformedInput] = {
        var cases: [MalformedInput] = [
            .init("5-byte remaining length", .v5, "30 FF FF FF FF 7F", .malformedVariableByteInteger, malformed),
            .init("non-minimal remaining length 80 00", .v5, "C0 80 00", .malformedVariableByteInteger, malformed),
            .init("non-minimal remaining length FF 80 00", .v3_1_1, "30 FF 80 00", .malformedVariableByteInteger,
                  malformed),
            .init("non-minimal property length", .v5, "30 05 00 01 't' 80 00", .malformedVariableByteInteger,
                  malformed),
            .init("non-minimal Subscription Identifier", .v5, "30 07 00 01 't' 03 0B 80 00",
                  .malformedVariableByteInteger, malformed),
            .init("5-byte Subscription Identifier", .v5, "30 09 00 01 't' 05 0B FF FF FF FF",
                  .malformedVariableByteInteger, malformed),
            .init("packet type 0", .v5, "00 00", .reservedPacketType(0), malformed),
            .init("packet type 0 before CONNECT", nil, "00 00", .reservedPacketType(0), malformed),
            .init("AUTH in 3.1.1", .v3_1_1, "F0 00", .reservedPacketType(15), malformed),
            .init("AUTH in 3.1", .v3_1, "F0 00", .reservedPacketType(15), malformed),
            // MQTT 3.1 allowed DUP on SUBSCRIBE, UNSUBSCRIBE and PUBREL; 3.1.1 and 5.0 do not.
            .init("SUBSCRIBE with DUP in 3.1.1", .v3_1_1, "8A 06 00 01 00 01 'a' 00",
                  .invalidFixedHeaderFlags(.subscribe, flags: 0x0A), malformed),
            .init("PUBREL with DUP in 5.0", .v5, "6A 02 00 01", .invalidFixedHeaderFlags(.pubrel, flags: 0x0A),
                  malformed),
            .init("UNSUBSCRIBE with DUP in 3.1.1", .v3_1_1, "AA 05 00 01 00 01 'a'",
                  .invalidFixedHeaderFlags(.unsubscribe, flags: 0x0A), malformed),
        ]
        // Wrong reserved flags for every type but PUBLISH [MQTT-2.1.3-1], each with an otherwise valid body.
        let v311: [(PacketType, String)] = [
            (.connect, "11 0D 00 04 'MQTT' 04 02 00 3C 00 01 'c'"),
            (.connack, "21 02 00 00"),
            (.puback, "41 02 00 01"),
            (.pubrec, "58 02 00 01"),
            (.pubrel, "60 02 00 01"),
            (.pubcomp, "72 02 00 01"),
            (.subscribe, "80 06 00 01 00 01 'a' 00"),
            (.suback, "92 03 00 01 00"),
            (.unsubscribe, "A0 05 00 01 00 01 'a'"),
            (.unsuback, "B1 02 00 01"),
            (.pingreq, "C1 00"),
            (.pingresp, "D2 00"),
            (.disconnect, "E4 00"),
        ]
        let v5: [(PacketType, String)] = [
            (.connect, "11 0E 00 04 'MQTT' 05 02 00 3C 00 00 01 'c'"),
            (.connack, "28 03 00 00 00"),
            (.puback, "44 02 00 01"),
            (.pubrec, "52 02 00 01"),
            (.pubrel, "60 02 00 01"),
            (.pubcomp, "71 02 00 01"),
            (.subscribe, "80 07 00 01 00 00 01 'a' 00"),
            (.suback, "91 04 00 01 00 00"),
            (.unsubscribe, "A3 06 00 01 00 00 01 'a'"),
            (.unsuback, "B2 04 00 01 00 00"),
            (.pingreq, "C8 00"),
            (.pingresp, "D1 00"),
            (.disconnect, "E2 00"),
            (.auth, "F1 00"),
        ]
        for (version, table) in [(ProtocolVersion.v3_1_1, v311), (.v5, v5)] {
            for (type, wire) in table {
                let flags = Wire.bytes(wire)[0] & 0x0F
                cases.append(.init("\(type) with flags \(flags)", type == .connect ? nil : version, wire,
                                   .invalidFixedHeaderFlags(type, flags: flags), malformed))
            }
        }
        cases.append(.init("PUBREL with flags 0 in 3.1", .v3_1, "60 02 00 01",
                           .invalidFixedHeaderFlags(.pubrel, flags: 0), malformed))
        return cases
    }()

    // MARK: PUBLISH (section 3.3)

    static let publish: [MalformedInput] = [
        .init("PUBLISH QoS 3", .v3_1_1, "36 07 00 03 'a/b' 00 01", .invalidQoS(3), malformed),
        .init("PUBLISH QoS 3", .v5, "36 08 00 03 'a/b' 00 01 00", .invalidQoS(3), malformed),
        .init("PUBLISH DUP on QoS 0", .v3_1_1, "38 05 00 03 'a/b'", .duplicateFlagOnQoS0, malformed),
        .init("PUBLISH DUP on QoS 0", .v5, "38 06 00 03 'a/b' 00", .duplicateFlagOnQoS0, malformed),
        .init("PUBLISH QoS 1 packet identifier 0", .v3_1_1, "32 07 00 03 'a/b' 00 00",
              .packetIdentifierZero(.publish), protocolError),
        .init("PUBLISH QoS 2 packet identifier 0", .v5, "34 08 00 03 'a/b' 00 00 00",
              .packetIdentifierZero(.publish), protocolError),
        .init("PUBLISH topic with +", .v3_1_1, "30 05 00 03 'a/+'", .invalidTopicName("a/+"), .topicNameInvalid),
        .init("PUBLISH topic with #", .v5, "30 06 00 03 'a/#' 00", .invalidTopicName("a/#"), .topicNameInvalid),
        .init("PUBLISH topic #", .v3_1, "30 03 00 01 '#'", .invalidTopicName("#"), .topicNameInvalid),
        .init("PUBLISH empty topic without Topic Alias", .v5, "30 03 00 00 00", .invalidTopicName(""),
              .topicNameInvalid),
        .init("PUBLISH empty topic with properties but no Topic Alias", .v5, "30 05 00 00 02 01 01",
              .invalidTopicName(""), .topicNameInvalid),
        .init("PUBLISH empty topic", .v3_1_1, "30 02 00 00", .invalidTopicName(""), .topicNameInvalid),
        .init("PUBLISH QoS 1 empty topic", .v3_1, "32 04 00 00 00 01", .invalidTopicName(""), .topicNameInvalid),
        .init("PUBLISH topic length past the packet", .v3_1_1, "30 05 00 08 'abc'", .truncated(.publish), malformed),
        .init("PUBLISH QoS 1 without room for the packet identifier", .v3_1_1, "32 04 00 01 't' 00",
              .truncated(.publish), malformed),
        .init("PUBLISH without property length", .v5, "30 03 00 01 't'", .truncated(.publish), malformed),
    ]

    // MARK: UTF-8 encoded strings (section 1.5.4) and U+0000

    static let strings: [MalformedInput] = [
        .init("overlong C0 80 in a topic", .v3_1_1, "30 04 00 02 C0 80", .invalidUTF8, malformed),
        .init("overlong E0 80 AF in a topic", .v3_1_1, "30 05 00 03 E0 80 AF", .invalidUTF8, malformed),
        .init("lone continuation byte in a topic", .v3_1_1, "30 03 00 01 80", .invalidUTF8, malformed),
        .init("high surrogate ED A0 80 in a topic", .v3_1_1, "30 05 00 03 ED A0 80", .invalidUTF8, malformed),
        .init("low surrogate ED BF BF in a topic", .v5, "30 06 00 03 ED BF BF 00", .invalidUTF8, malformed),
        .init("5-byte form in a topic", .v3_1_1, "30 07 00 05 F8 88 80 80 80", .invalidUTF8, malformed),
        .init("6-byte form in a topic", .v3_1_1, "30 08 00 06 FC 84 80 80 80 80", .invalidUTF8, malformed),
        .init("code point above U+10FFFF in a topic", .v3_1_1, "30 06 00 04 F4 90 80 80", .invalidUTF8, malformed),
        .init("byte FF in a topic", .v3_1_1, "30 03 00 01 FF", .invalidUTF8, malformed),
        .init("truncated sequence at the end of a topic", .v3_1_1, "30 04 00 02 E2 82", .invalidUTF8, malformed),
        .init("truncated sequence inside a topic", .v3_1_1, "30 05 00 03 E2 82 'a'", .invalidUTF8, malformed),
        .init("overlong C0 80 in a client identifier", nil, "10 0E 00 04 'MQTT' 04 02 00 3C 00 02 C0 80",
              .invalidUTF8, malformed),
        .init("surrogate in a user name", nil, "10 13 00 04 'MQTT' 05 82 00 3C 00 00 01 'c' 00 03 ED B0 80",
              .invalidUTF8, malformed),
        .init("lone continuation byte in a user property value", .v5,
              "30 0B 00 01 't' 07 26 00 01 'k' 00 01 80", .invalidUTF8, malformed),
        .init("U+0000 in a topic", .v3_1_1, "30 05 00 03 'a' 00 'b'", .nullCharacter, malformed),
        .init("U+0000 in a client identifier", nil, "10 0F 00 04 'MQTT' 04 02 00 3C 00 03 'a' 00 'b'",
              .nullCharacter, malformed),
        .init("U+0000 in a user property name", .v5, "30 0B 00 01 't' 07 26 00 01 00 00 01 'v'", .nullCharacter,
              malformed),
        .init("U+0000 in a user property value", .v5, "30 0B 00 01 't' 07 26 00 01 'k' 00 01 00", .nullCharacter,
              malformed),
        .init("U+0000 in a topic filter", .v3_1_1, "82 06 00 01 00 01 00 00", .nullCharacter, malformed),
    ]

    // MARK: CONNECT (section 3.1) and CONNACK (section 3.2)

    static let connect: [MalformedInput] = [
        .init("protocol name MQTX", nil, "10 0D 00 04 'MQTX' 04 02 00 3C 00 01 'c'", .invalidProtocolName("MQTX"),
              .unsupportedProtocolVersion),
        .init("protocol level 6", nil, "10 0D 00 04 'MQTT' 06 02 00 3C 00 01 'c'", .unsupportedProtocolLevel(6),
              .unsupportedProtocolVersion),
        .init("protocol level 4 with MQIsdp", nil, "10 0F 00 06 'MQIsdp' 04 02 00 3C 00 01 'c'",
              .unsupportedProtocolLevel(4), .unsupportedProtocolVersion),
        .init("protocol level 3 with MQTT", nil, "10 0D 00 04 'MQTT' 03 02 00 3C 00 01 'c'",
              .unsupportedProtocolLevel(3), .unsupportedProtocolVersion),
        .init("CONNECT reserved flag bit 0", nil, "10 0D 00 04 'MQTT' 04 03 00 3C 00 01 'c'",
              .invalidConnectFlags(0x03), malformed),
        .init("CONNECT reserved flag bit 0 (5.0)", nil, "10 0E 00 04 'MQTT' 05 03 00 3C 00 00 01 'c'",
              .invalidConnectFlags(0x03), malformed),
        .init("CONNECT reserved flag bit 0 (3.1)", nil, "10 0F 00 06 'MQIsdp' 03 03 00 3C 00 01 'c'",
              .invalidConnectFlags(0x03), malformed),
        .init("Will QoS 1 without Will Flag", nil, "10 0D 00 04 'MQTT' 04 0A 00 3C 00 01 'c'",
              .invalidConnectFlags(0x0A), malformed),
        .init("Will QoS 2 without Will Flag (5.0)", nil, "10 0E 00 04 'MQTT' 05 12 00 3C 00 00 01 'c'",
              .invalidConnectFlags(0x12), malformed),
        .init("Will Retain without Will Flag", nil, "10 0D 00 04 'MQTT' 04 22 00 3C 00 01 'c'",
              .invalidConnectFlags(0x22), malformed),
        .init("Will QoS 3", nil, "10 13 00 04 'MQTT' 04 1E 00 3C 00 01 'c' 00 01 't' 00 01 'x'", .invalidQoS(3),
              malformed),
        .init("Will QoS 3 (5.0)", nil, "10 15 00 04 'MQTT' 05 1E 00 3C 00 00 01 'c' 00 00 01 't' 00 01 'x'",
              .invalidQoS(3), malformed),
        .init("password without user name in 3.1.1", nil, "10 10 00 04 'MQTT' 04 42 00 3C 00 01 'c' 00 01 'p'",
              .invalidConnectFlags(0x42), malformed),
        .init("Will topic with a wildcard", nil,
              "10 15 00 04 'MQTT' 04 06 00 3C 00 01 'c' 00 03 'w/+' 00 01 'x'", .invalidTopicName("w/+"),
              .topicNameInvalid),
        .init("CONNECT cut short", nil, "10 02 00 04", .truncated(.connect), malformed),
        .init("CONNECT without its client identifier", nil, "10 0A 00 04 'MQTT' 04 02 00 3C",
              .truncated(.connect), malformed),
        .init("CONNECT with user name flag but no user name", nil, "10 0D 00 04 'MQTT' 04 82 00 3C 00 01 'c'",
              .truncated(.connect), malformed),
        .init("CONNECT with a trailing byte", nil, "10 0E 00 04 'MQTT' 04 02 00 3C 00 01 'c' 00",
              .trailingBytes(.connect), malformed),
        .init("CONNACK return code 6", .v3_1_1, "20 02 00 06", .invalidReasonCode(6, .connack), malformed),
        .init("CONNACK reserved acknowledge flag", .v3_1_1, "20 02 02 00", .invalidConnAckFlags(2), malformed),
        .init("CONNACK session present in 3.1", .v3_1, "20 02 01 00", .invalidConnAckFlags(1), malformed),
        .init("CONNACK reason code 0x01", .v5, "20 03 00 01 00", .invalidReasonCode(1, .connack), malformed),
        .init("CONNACK without property length", .v5, "20 02 00 00", .truncated(.connack), malformed),
        .init("CONNACK with a trailing byte", .v3_1_1, "20 03 00 00 00", .trailingBytes(.connack), malformed),
    ]

    // MARK: Acknowledgements, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT, AUTH

    static let packets: [MalformedInput] = [
        .init("PUBACK packet identifier 0", .v3_1_1, "40 02 00 00", .packetIdentifierZero(.puback), protocolError),
        .init("PUBACK packet identifier 0", .v5, "40 02 00 00", .packetIdentifierZero(.puback), protocolError),
        .init("PUBREC packet identifier 0", .v5, "50 02 00 00", .packetIdentifierZero(.pubrec), protocolError),
        .init("PUBREL packet identifier 0", .v3_1, "62 02 00 00", .packetIdentifierZero(.pubrel), protocolError),
        .init("PUBCOMP packet identifier 0", .v3_1_1, "70 02 00 00", .packetIdentifierZero(.pubcomp),
              protocolError),
        .init("SUBSCRIBE packet identifier 0", .v3_1_1, "82 06 00 00 00 01 'a' 00", .packetIdentifierZero(.subscribe),
              protocolError),
        .init("SUBSCRIBE packet identifier 0", .v5, "82 07 00 00 00 00 01 'a' 00", .packetIdentifierZero(.subscribe),
              protocolError),
        .init("UNSUBSCRIBE packet identifier 0", .v3_1_1, "A2 05 00 00 00 01 'a'",
              .packetIdentifierZero(.unsubscribe), protocolError),
        .init("UNSUBSCRIBE packet identifier 0", .v5, "A2 06 00 00 00 00 01 'a'",
              .packetIdentifierZero(.unsubscribe), protocolError),
        .init("SUBACK packet identifier 0", .v3_1_1, "90 03 00 00 00", .packetIdentifierZero(.suback), protocolError),
        .init("UNSUBACK packet identifier 0", .v3_1_1, "B0 02 00 00", .packetIdentifierZero(.unsuback),
              protocolError),
        .init("PUBACK with only one byte", .v3_1_1, "40 01 00", .truncated(.puback), malformed),
        .init("empty SUBSCRIBE", .v3_1_1, "82 02 00 01", .emptyPayload(.subscribe), protocolError),
        .init("empty SUBSCRIBE", .v5, "82 03 00 01 00", .emptyPayload(.subscribe), protocolError),
        .init("empty UNSUBSCRIBE", .v3_1_1, "A2 02 00 01", .emptyPayload(.unsubscribe), protocolError),
        .init("empty UNSUBSCRIBE", .v5, "A2 03 00 01 00", .emptyPayload(.unsubscribe), protocolError),
        .init("empty SUBACK", .v3_1_1, "90 02 00 01", .emptyPayload(.suback), protocolError),
        .init("empty UNSUBACK", .v5, "B0 03 00 01 00", .emptyPayload(.unsuback), protocolError),
        .init("SUBSCRIBE topic filter without options", .v3_1_1, "82 05 00 01 00 01 'a'", .truncated(.subscribe),
              malformed),
        // 3.1.1 [MQTT-3.8.3-4]: bits 2-7 reserved, QoS 3 malformed. 5.0 [MQTT-3.8.3-5]: bits 6-7 reserved.
        .init("subscription options bit 2 in 3.1.1", .v3_1_1, "82 06 00 01 00 01 'a' 04",
              .invalidSubscriptionOptions(0x04), malformed),
        .init("subscription options bit 7 in 3.1.1", .v3_1_1, "82 06 00 01 00 01 'a' 80",
              .invalidSubscriptionOptions(0x80), malformed),
        .init("subscription options bits 4-5 in 3.1", .v3_1, "82 06 00 01 00 01 'a' 30",
              .invalidSubscriptionOptions(0x30), malformed),
        // 3.1.1 closes the connection on any malformed SUBSCRIBE; `reasonCode` is the 5.0 code for the same
        // error value, which for QoS 3 is a Protocol Error (next group).
        .init("subscription options QoS 3 in 3.1.1", .v3_1_1, "82 06 00 01 00 01 'a' 03",
              .invalidSubscriptionOptions(0x03), protocolError),
        .init("subscription options QoS 3 and bit 2 in 3.1.1", .v3_1_1, "82 06 00 01 00 01 'a' 07",
              .invalidSubscriptionOptions(0x07), protocolError),
        .init("subscription options bit 6 in 5.0", .v5, "82 07 00 01 00 00 01 'a' 40",
              .invalidSubscriptionOptions(0x40), malformed),
        .init("subscription options bit 7 in 5.0", .v5, "82 07 00 01 00 00 01 'a' 80",
              .invalidSubscriptionOptions(0x80), malformed),
        // 5.0 section 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3."
        .init("subscription options QoS 3 in 5.0", .v5, "82 07 00 01 00 00 01 'a' 03",
              .invalidSubscriptionOptions(0x03), protocolError),
        .init("subscription options QoS 3 and bit 7 in 5.0", .v5, "82 07 00 01 00 00 01 'a' 83",
              .invalidSubscriptionOptions(0x83), malformed),
        .init("subscription options QoS 3 and retain handling 3 in 5.0", .v5, "82 07 00 01 00 00 01 'a' 33",
              .invalidSubscriptionOptions(0x33), protocolError),
        // 5.0 section 3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3."
        .init("retain handling 3", .v5, "82 07 00 01 00 00 01 'a' 30", .invalidRetainHandling, protocolError),
        .init("PINGREQ with a trailing byte", .v3_1_1, "C0 01 00", .trailingBytes(.pingreq), malformed),
        .init("PINGREQ with a trailing byte", .v5, "C0 01 00", .trailingBytes(.pingreq), malformed),
        .init("PINGRESP with a trailing byte", .v3_1, "D0 01 00", .trailingBytes(.pingresp), malformed),
        .init("PUBACK with a trailing byte", .v3_1_1, "40 03 00 01 00", .trailingBytes(.puback), malformed),
        .init("PUBREC with a trailing byte", .v3_1, "50 03 00 01 00", .trailingBytes(.pubrec), malformed),
        .init("PUBACK with bytes after its properties", .v5, "40 06 00 01 00 00 FF FF", .trailingBytes(.puback),
              malformed),
        .init("UNSUBACK with a trailing byte", .v3_1_1, "B0 03 00 01 00", .trailingBytes(.unsuback), malformed),
        .init("DISCONNECT with a trailing byte", .v3_1_1, "E0 01 00", .trailingBytes(.disconnect), malformed),
        .init("DISCONNECT with bytes after its properties", .v5, "E0 03 00 00 00", .trailingBytes(.disconnect),
              malformed),
        .init("PUBACK reason code 0x05", .v5, "40 03 00 01 05", .invalidReasonCode(5, .puback), malformed),
        .init("PUBREC reason code 0x92", .v5, "50 03 00 01 92", .invalidReasonCode(0x92, .pubrec), malformed),
        .init("PUBREL reason code 0x10", .v5, "62 03 00 01 10", .invalidReasonCode(0x10, .pubrel), malformed),
        .init("PUBCOMP reason code 0x80", .v5, "70 03 00 01 80", .invalidReasonCode(0x80, .pubcomp), malformed),
        .init("SUBACK return code 0x03", .v3_1_1, "90 03 00 01 03", .invalidReasonCode(3, .suback), malformed),
        .init("SUBACK return code 0x87", .v3_1_1, "90 03 00 01 87", .invalidReasonCode(0x87, .suback), malformed),
        .init("SUBACK reason code 0x03", .v5, "90 04 00 01 00 03", .invalidReasonCode(3, .suback), malformed),
        .init("UNSUBACK reason code 0x01", .v5, "B0 04 00 01 00 01", .invalidReasonCode(1, .unsuback), malformed),
        .init("DISCONNECT reason code 0x84", .v5, "E0 01 84", .invalidReasonCode(0x84, .disconnect), malformed),
        .init("AUTH reason code 0x01", .v5, "F0 01 01", .invalidReasonCode(1, .auth), malformed),
        .init("PINGREQ before CONNECT", nil, "C0 00", .expectedConnect(.pingreq), protocolError),
        .init("PUBLISH before CONNECT", nil, "30 05 00 03 'a/b'", .expectedConnect(.publish), protocolError),
        .init("CONNACK before CONNECT", nil, "20 02 00 00", .expectedConnect(.connack), protocolError),
        .init("AUTH before CONNECT", nil, "F0 00", .expectedConnect(.auth), protocolError),
    ]

    // MARK: Properties (5.0 section 2.2.2 and the property sections of chapter 3)

    static let properties: [MalformedInput] = [
        // "A Control Packet which contains an Identifier which is not valid for its packet type ... is a Malformed
        // Packet" (5.0 section 2.2.2.2).
        .init("Topic Alias in CONNECT", nil, "10 11 00 04 'MQTT' 05 02 00 3C 03 23 00 01 00 01 'c'",
              .propertyNotAllowed(.topicAlias, .connect), malformed),
        .init("Maximum QoS in CONNECT", nil, "10 10 00 04 'MQTT' 05 02 00 3C 02 24 01 00 01 'c'",
              .propertyNotAllowed(.maximumQoS, .connect), malformed),
        .init("Will Delay Interval in PUBLISH", .v5, "30 09 00 01 't' 05 18 00 00 00 01",
              .propertyNotAllowed(.willDelayInterval, .publish), malformed),
        .init("Reason String in PUBLISH", .v5, "30 08 00 01 't' 04 1F 00 01 'x'",
              .propertyNotAllowed(.reasonString, .publish), malformed),
        .init("Session Expiry Interval in Will Properties", nil,
              "10 1A 00 04 'MQTT' 05 06 00 3C 00 00 01 'c' 05 11 00 00 00 01 00 01 't' 00 01 'x'",
              .propertyNotAllowed(.sessionExpiryInterval, .will), malformed),
        .init("Topic Alias in Will Properties", nil,
              "10 18 00 04 'MQTT' 05 06 00 3C 00 00 01 'c' 03 23 00 01 00 01 't' 00 01 'x'",
              .propertyNotAllowed(.topicAlias, .will), malformed),
        .init("Session Expiry Interval in PUBACK", .v5, "40 09 00 01 00 05 11 00 00 00 01",
              .propertyNotAllowed(.sessionExpiryInterval, .puback), malformed),
        .init("Subscription Identifier in UNSUBSCRIBE", .v5, "A2 08 00 01 02 0B 01 00 01 'a'",
              .propertyNotAllowed(.subscriptionIdentifier, .unsubscribe), malformed),
        .init("Server Reference in AUTH", .v5, "F0 07 18 05 1C 00 02 'h2'",
              .propertyNotAllowed(.serverReference, .auth), malformed),
        .init("two Message Expiry Intervals", .v5, "30 0E 00 01 't' 0A 02 00 00 00 01 02 00 00 00 02",
              .duplicateProperty(.messageExpiryInterval), protocolError),
        .init("two Topic Aliases", .v5, "30 0A 00 01 't' 06 23 00 01 23 00 02", .duplicateProperty(.topicAlias),
              protocolError),
        .init("two Session Expiry Intervals in CONNECT", nil,
              "10 18 00 04 'MQTT' 05 02 00 3C 0A 11 00 00 00 01 11 00 00 00 02 00 01 'c'",
              .duplicateProperty(.sessionExpiryInterval), protocolError),
        .init("two Reason Strings in PUBACK", .v5, "40 0C 00 01 80 08 1F 00 01 'a' 1F 00 01 'b'",
              .duplicateProperty(.reasonString), protocolError),
        .init("two Subscription Identifiers in SUBSCRIBE", .v5, "82 0B 00 01 04 0B 01 0B 02 00 01 'a' 00",
              .duplicateProperty(.subscriptionIdentifier), protocolError),
        .init("unknown property 0x7F", .v5, "30 06 00 01 't' 02 7F 00", .unknownProperty(0x7F), malformed),
        .init("unknown property 0x00", .v5, "30 06 00 01 't' 02 00 00", .unknownProperty(0), malformed),
        .init("unknown two-byte property identifier 128", .v5, "30 07 00 01 't' 03 80 01 00",
              .unknownProperty(128), malformed),
        .init("unknown property 0x7F in DISCONNECT", .v5, "E0 04 00 02 7F 00", .unknownProperty(0x7F), malformed),
        .init("Receive Maximum 0 in CONNECT", nil, "10 11 00 04 'MQTT' 05 02 00 3C 03 21 00 00 00 01 'c'",
              .invalidPropertyValue(.receiveMaximum), protocolError),
        .init("Receive Maximum 0 in CONNACK", .v5, "20 06 00 00 03 21 00 00",
              .invalidPropertyValue(.receiveMaximum), protocolError),
        .init("Maximum Packet Size 0 in CONNECT", nil, "10 13 00 04 'MQTT' 05 02 00 3C 05 27 00 00 00 00 00 01 'c'",
              .invalidPropertyValue(.maximumPacketSize), protocolError),
        .init("Maximum QoS 2 in CONNACK", .v5, "20 05 00 00 02 24 02", .invalidPropertyValue(.maximumQoS),
              protocolError),
        .init("Request Problem Information 2", nil, "10 10 00 04 'MQTT' 05 02 00 3C 02 17 02 00 01 'c'",
              .invalidPropertyValue(.requestProblemInformation), protocolError),
        .init("Request Response Information 2", nil, "10 10 00 04 'MQTT' 05 02 00 3C 02 19 02 00 01 'c'",
              .invalidPropertyValue(.requestResponseInformation), protocolError),
        .init("Subscription Identifier 0 in PUBLISH", .v5, "30 06 00 01 't' 02 0B 00",
              .invalidPropertyValue(.subscriptionIdentifier), protocolError),
        .init("Subscription Identifier 0 in SUBSCRIBE", .v5, "82 09 00 01 02 0B 00 00 01 'a' 00",
              .invalidPropertyValue(.subscriptionIdentifier), protocolError),
        .init("Payload Format Indicator 2", .v5, "30 06 00 01 't' 02 01 02",
              .invalidPropertyValue(.payloadFormatIndicator), protocolError),
        .init("Retain Available 2", .v5, "20 05 00 00 02 25 02", .invalidPropertyValue(.retainAvailable),
              protocolError),
        .init("Wildcard Subscription Available 2", .v5, "20 05 00 00 02 28 02",
              .invalidPropertyValue(.wildcardSubscriptionAvailable), protocolError),
        .init("Subscription Identifier Available 2", .v5, "20 05 00 00 02 29 02",
              .invalidPropertyValue(.subscriptionIdentifierAvailable), protocolError),
        .init("Shared Subscription Available 2", .v5, "20 05 00 00 02 2A 02",
              .invalidPropertyValue(.sharedSubscriptionAvailable), protocolError),
        .init("property length past the packet", .v5, "30 05 00 01 't' 05 01", .truncated(.publish), malformed),
        .init("property value past the property length", .v5, "30 08 00 01 't' 01 02 00 00 00",
              .truncated(.publish), malformed),
        .init("Reason String length past the packet", .v5, "40 08 00 01 80 04 1F 00 09 'x'", .truncated(.puback),
              malformed),
        .init("user property without its value", .v5, "30 09 00 01 't' 05 26 00 01 'k' 00", .truncated(.publish),
              malformed),
        .init("Correlation Data length past the packet", .v5, "30 08 00 01 't' 04 09 00 05 01",
              .truncated(.publish), malformed),
    ]

    static let all = fixedHeader + publish + strings + connect + packets + properties
}

@Suite("Malformed input")
struct MalformedInputTests {
    @Test("a malformed packet throws its error and reason code", arguments: MalformedInputs.all)
    func rejects(input: MalformedInput) {
        var decoder = input.decoder
        var buffer = ByteBuffer(bytes: input.wire)
        do {
            let packet = try decoder.decode(&buffer)
            Issue.record("decoded \(String(describing: packet)) instead of throwing \(input.error)")
        } catch {
            #expect(error == input.error)
            #expect(error.reasonCode == input.reasonCode)
            #expect(input.error.reasonCode == input.reasonCode)
        }
    }

    // The decoder reads a packet's body where it lies in the buffer, up to the body's end (`PacketBodyReader`):
    // a field that runs past that end must be reported as such even when more bytes follow.
    @Test("bytes after a malformed packet never change its error", arguments: MalformedInputs.all)
    func followedByMoreBytes(input: MalformedInput) {
        let followers: [[UInt8]] = [[UInt8](repeating: 0x00, count: 300), [UInt8](repeating: 0x61, count: 300),
                                    [UInt8](repeating: 0x80, count: 300), Wire.bytes("30 06 00 01 'a' 00 'x' 'y'")]
        for follower in followers {
            var decoder = input.decoder
            var buffer = ByteBuffer(bytes: input.wire + follower)
            #expect(throws: input.error) { try decoder.decode(&buffer) }
        }
    }

    @Test("a prefix of a malformed packet gives nil or the same error, never a packet",
          arguments: MalformedInputs.all)
    func prefixes(input: MalformedInput) {
        for length in 0..<input.wire.count {
            var decoder = input.decoder
            var buffer = ByteBuffer(bytes: input.wire[..<length])
            do {
                if let packet = try decoder.decode(&buffer) {
                    Issue.record("prefix of \(length) bytes decoded to \(packet)")
                } else {
                    #expect(buffer.readerIndex == 0)
                    #expect(buffer.readableBytes == length)
                }
            } catch {
                #expect(error == input.error, "prefix of \(length) bytes")
            }
        }
    }

    // MARK: Incomplete frames

    @Test("an incomplete remaining length returns nil without consuming",
          arguments: ["30", "30 80", "30 FF", "30 80 80", "30 FF FF", "30 80 80 80", "30 FF FF FF"])
    func incompleteRemainingLength(header: String) throws {
        var decoder = MQTTPacketDecoder(protocolVersion: .v3_1_1)
        var buffer = Wire.buffer(header)
        #expect(try decoder.decode(&buffer) == nil)
        #expect(buffer.readerIndex == 0)
        #expect(buffer.readableBytes == Wire.bytes(header).count)
    }

    @Test("a packet fed one byte at a time completes only with its last byte")
    func byteByByte() throws {
        // Remaining length 128 = 80 01: topic "a" (3) + 125 payload bytes.
        var wire = Wire.bytes("30 80 01 00 01 'a'")
        wire += [UInt8](repeating: 0x42, count: 125)
        var decoder = MQTTPacketDecoder(protocolVersion: .v3_1_1)
        var buffer = ByteBuffer()
        for (index, byte) in wire.enumerated() {
            buffer.writeInteger(byte)
            let packet = try decoder.decode(&buffer)
            if index < wire.count - 1 {
                #expect(packet == nil)
                #expect(buffer.readerIndex == 0)
            } else {
                #expect(packet == .publish(PublishPacket(topic: "a", payload: ByteBuffer(repeating: 0x42, count: 125))))
                #expect(buffer.readableBytes == 0)
            }
        }
    }

    // MARK: Maximum packet size, from the fixed header alone

    struct OversizedHeader: Sendable, CustomTestStringConvertible {
        let header: String
        let size: Int
        var testDescription: String { "\(header) (packet of \(size) bytes)" }
    }

    /// Fixed headers of 2 to 5 bytes (remaining length in 1 to 4 bytes) announcing packets over 100 bytes.
    static let oversizedHeaders: [OversizedHeader] = [
        .init(header: "30 63", size: 101),
        .init(header: "30 7F", size: 129),
        .init(header: "30 80 01", size: 131),
        .init(header: "30 FF 7F", size: 16_386),
        .init(header: "30 80 80 01", size: 16_388),
        .init(header: "30 80 80 80 01", size: 2_097_157),
        .init(header: "30 FF FF FF 7F", size: 268_435_460),
    ]

    @Test("a too large packet is refused from its fixed header, before its body arrives",
          arguments: oversizedHeaders)
    func tooLargeFromFixedHeader(oversized: OversizedHeader) {
        var decoder = MQTTPacketDecoder(maximumPacketSize: 100, protocolVersion: .v5)
        var buffer = Wire.buffer(oversized.header)
        #expect(throws: MQTTDecodingError.packetTooLarge(size: oversized.size, maximum: 100)) {
            try decoder.decode(&buffer)
        }
        #expect(MQTTDecodingError.packetTooLarge(size: oversized.size, maximum: 100).reasonCode == .packetTooLarge)
    }

    @Test("a too large CONNECT is refused from its fixed header on a server-side decoder")
    func tooLargeConnect() {
        var decoder = MQTTPacketDecoder(maximumPacketSize: 100)
        var buffer = Wire.buffer("10 FF 01")
        #expect(throws: MQTTDecodingError.packetTooLarge(size: 258, maximum: 100)) {
            try decoder.decode(&buffer)
        }
    }

    @Test("a packet of exactly the maximum size is accepted")
    func exactlyMaximumSize() throws {
        // 1 + 1 + 98: topic "a" (3) + property length (1) + 94 payload bytes.
        var wire = Wire.bytes("30 62 00 01 'a' 00")
        wire += [UInt8](repeating: 0x01, count: 94)
        #expect(wire.count == 100)
        var decoder = MQTTPacketDecoder(maximumPacketSize: 100, protocolVersion: .v5)
        var buffer = ByteBuffer(bytes: wire[..<2])
        #expect(try decoder.decode(&buffer) == nil)
        buffer.writeBytes(wire[2...])
        #expect(try decoder.decode(&buffer)
            == .publish(PublishPacket(topic: "a", payload: ByteBuffer(repeating: 0x01, count: 94))))
    }

    // MARK: Protocol version learned from a malformed CONNECT

    struct MalformedConnect: Sendable, CustomTestStringConvertible {
        let name: String
        let wire: String
        let version: ProtocolVersion
        var testDescription: String { "\(version) \(name)" }
    }

    static let malformedConnects: [MalformedConnect] = [
        .init(name: "reserved flag", wire: "10 0F 00 06 'MQIsdp' 03 03 00 3C 00 01 'c'", version: .v3_1),
        .init(name: "reserved flag", wire: "10 0D 00 04 'MQTT' 04 03 00 3C 00 01 'c'", version: .v3_1_1),
        .init(name: "reserved flag", wire: "10 0E 00 04 'MQTT' 05 03 00 3C 00 00 01 'c'", version: .v5),
        .init(name: "cut after the level", wire: "10 07 00 04 'MQTT' 05", version: .v5),
        .init(name: "Topic Alias property", wire: "10 11 00 04 'MQTT' 05 02 00 3C 03 23 00 01 00 01 'c'",
              version: .v5),
        .init(name: "bad UTF-8 client identifier", wire: "10 0E 00 04 'MQTT' 04 02 00 3C 00 02 C0 80",
              version: .v3_1_1),
        .init(name: "trailing byte", wire: "10 10 00 06 'MQIsdp' 03 02 00 3C 00 01 'c' 00", version: .v3_1),
    ]

    @Test("the decoder learns the version from a CONNECT's level even if the rest is malformed",
          arguments: malformedConnects)
    func versionFromMalformedConnect(connect: MalformedConnect) {
        var decoder = MQTTPacketDecoder()
        var buffer = Wire.buffer(connect.wire)
        #expect(throws: MQTTDecodingError.self) { try decoder.decode(&buffer) }
        #expect(decoder.protocolVersion == connect.version)
    }

    @Test("an unsupported protocol name or level leaves the version unknown",
          arguments: ["10 0D 00 04 'MQTX' 04 02 00 3C 00 01 'c'", "10 0D 00 04 'MQTT' 06 02 00 3C 00 01 'c'",
                      "10 0F 00 06 'MQIsdp' 04 02 00 3C 00 01 'c'"])
    func unsupportedVersionStaysUnknown(wire: String) {
        var decoder = MQTTPacketDecoder()
        var buffer = Wire.buffer(wire)
        #expect(throws: MQTTDecodingError.self) { try decoder.decode(&buffer) }
        #expect(decoder.protocolVersion == nil)
    }

    // MARK: Reason codes per packet type

    struct ReasonCodeTable: Sendable, CustomTestStringConvertible {
        let type: PacketType
        let version: ProtocolVersion
        /// The packet with the reason code byte as `XX`.
        let template: String
        /// The codes the standard's table for this packet defines, copied by hand.
        let defined: Set<UInt8>
        var testDescription: String { "\(type) in \(version)" }

        func wire(_ code: UInt8) -> [UInt8] {
            Wire.bytes(template.replacingOccurrences(of: "XX", with: Wire.hex([code])))
        }
    }

    static let reasonCodeTables: [ReasonCodeTable] = [
        // 5.0 section 3.2.2.2.
        .init(type: .connack, version: .v5, template: "20 03 00 XX 00",
              defined: [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95,
                        0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F]),
        // 5.0 sections 3.4.2.1 and 3.5.2.1.
        .init(type: .puback, version: .v5, template: "40 03 00 01 XX",
              defined: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
        .init(type: .pubrec, version: .v5, template: "50 03 00 01 XX",
              defined: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
        // 5.0 sections 3.6.2.1 and 3.7.2.1.
        .init(type: .pubrel, version: .v5, template: "62 03 00 01 XX", defined: [0x00, 0x92]),
        .init(type: .pubcomp, version: .v5, template: "70 03 00 01 XX", defined: [0x00, 0x92]),
        // 5.0 section 3.9.3.
        .init(type: .suback, version: .v5, template: "90 04 00 01 00 XX",
              defined: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2]),
        // 5.0 section 3.11.3.
        .init(type: .unsuback, version: .v5, template: "B0 04 00 01 00 XX",
              defined: [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]),
        // 5.0 section 3.14.2.1.
        .init(type: .disconnect, version: .v5, template: "E0 01 XX",
              defined: [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
                        0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2]),
        // 5.0 section 3.15.2.1.
        .init(type: .auth, version: .v5, template: "F0 01 XX", defined: [0x00, 0x18, 0x19]),
        // 3.1.1 sections 3.2.2.3 and 3.9.3.
        .init(type: .connack, version: .v3_1_1, template: "20 02 00 XX", defined: [0, 1, 2, 3, 4, 5]),
        .init(type: .suback, version: .v3_1_1, template: "90 03 00 01 XX", defined: [0x00, 0x01, 0x02, 0x80]),
    ]

    @Test("exactly the reason codes the standard defines for a packet are accepted", arguments: reasonCodeTables)
    func reasonCodes(table: ReasonCodeTable) {
        for code in UInt8.min...UInt8.max {
            var decoder = MQTTPacketDecoder(protocolVersion: table.version)
            var buffer = ByteBuffer(bytes: table.wire(code))
            do {
                let packet = try decoder.decode(&buffer)
                #expect(table.defined.contains(code), "0x\(Wire.hex([code])) accepted")
                #expect(packet?.type == table.type)
            } catch {
                #expect(!table.defined.contains(code), "0x\(Wire.hex([code])) rejected with \(error)")
                #expect(error == .invalidReasonCode(code, table.type))
            }
        }
    }

    @Test("two Subscription Identifiers are allowed in PUBLISH")
    func repeatedSubscriptionIdentifiersInPublish() throws {
        var buffer = Wire.buffer("30 08 00 01 't' 04 0B 01 0B 02")
        var decoder = MQTTPacketDecoder(protocolVersion: .v5)
        #expect(try decoder.decode(&buffer) == .publish(PublishPacket(
            topic: "t", payload: ByteBuffer(), properties: [.subscriptionIdentifier(1), .subscriptionIdentifier(2)])))
    }
}
