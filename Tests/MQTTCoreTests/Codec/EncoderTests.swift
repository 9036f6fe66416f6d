import MQTTCore
import NIOCore
import Testing

private func user(_ name: String, _ value: String) -> Property { .userProperty(UserProperty(name, value)) }
private func text(_ character: Character, _ count: Int) -> String { String(repeating: character, count: count) }
private func ascii(_ character: Character, _ count: Int) -> [UInt8] {
    [UInt8](repeating: character.asciiValue!, count: count)
}

/// Encodes after a marker byte and returns what the packet wrote, or throws; checks the marker survives.
private func encoded(_ packet: Packet, _ version: ProtocolVersion,
                     maximumPacketSize: Int = MQTTPacketDecoder.largestPossiblePacketSize) throws -> [UInt8]
{
    var buffer = ByteBuffer(bytes: [0xEE])
    do {
        try packet.encode(into: &buffer, version: version, maximumPacketSize: maximumPacketSize)
    } catch {
        #expect(Array(buffer.readableBytesView) == [0xEE], "a packet that cannot be encoded writes nothing")
        throw error
    }
    #expect(buffer.readInteger(as: UInt8.self) == 0xEE)
    return Array(buffer.readableBytesView)
}

/// One expected encoding under a peer's Maximum Packet Size; `wire` nil means the packet cannot fit.
struct SizeLimitedEncoding: Sendable, CustomTestStringConvertible {
    let name: String
    let packet: Packet
    let maximumPacketSize: Int
    let wire: [UInt8]?
    /// For `wire == nil`: the size reported by `.packetTooLarge`.
    let sizeAfterOmission: Int

    init(_ name: String, _ packet: Packet, maximum: Int, _ wire: [UInt8]) {
        self.name = name
        self.packet = packet
        self.maximumPacketSize = maximum
        self.wire = wire
        self.sizeAfterOmission = wire.count
    }

    init(_ name: String, _ packet: Packet, maximum: Int, tooLarge size: Int) {
        self.name = name
        self.packet = packet
        self.maximumPacketSize = maximum
        self.wire = nil
        self.sizeAfterOmission = size
    }

    var testDescription: String { "\(name), maximum \(maximumPacketSize)" }
}

enum SizeLimitedEncodings {
    // PUBACK 0x80 with a 50-byte Reason String and two user properties.
    // Full: properties 53 + 7 + 7 = 67 (0x43); remaining 2 + 1 + 1 + 67 = 71 (0x47); 73 bytes.
    // Without the Reason String: properties 14 (0x0E); remaining 18 (0x12); 20 bytes.
    // Without either: remaining 3; 5 bytes.
    static let puback = Packet.puback(PublishAckPacket(
        packetIdentifier: 1, reasonCode: .unspecifiedError,
        properties: [.reasonString(text("r", 50)), user("a", "1"), user("b", "2")]))
    static let pubackFull = Wire.bytes("40 47 00 01 80 43 1F 00 32") + ascii("r", 50)
        + Wire.bytes("26 00 01 'a' 00 01 '1' 26 00 01 'b' 00 01 '2'")
    static let pubackUserProperties = Wire.bytes("40 12 00 01 80 0E 26 00 01 'a' 00 01 '1' 26 00 01 'b' 00 01 '2'")
    static let pubackBare = Wire.bytes("40 03 00 01 80")

    // PUBACK Success: once every property is dropped it falls back to the two-byte form.
    // Full: properties 6 + 7 = 13; remaining 17; 19 bytes. Without the Reason String: 13 bytes.
    static let pubackSuccess = Packet.puback(PublishAckPacket(
        packetIdentifier: 1, properties: [.reasonString("why"), user("k", "v")]))

    // DISCONNECT 0x8B with a 40-byte Reason String, a user property and a Session Expiry Interval (never dropped).
    // Full: 43 + 7 + 5 = 55 (0x37); remaining 57 (0x39); 59 bytes. Without the Reason String: 12 (0x0C),
    // remaining 14 (0x0E), 16 bytes. Without either: 5, remaining 7, 9 bytes.
    static let disconnect = Packet.disconnect(DisconnectPacket(
        reasonCode: .serverShuttingDown,
        properties: [.reasonString(text("d", 40)), user("k", "v"), .sessionExpiryInterval(0)]))
    static let disconnectFull = Wire.bytes("E0 39 8B 37 1F 00 28") + ascii("d", 40)
        + Wire.bytes("26 00 01 'k' 00 01 'v' 11 00 00 00 00")

    // SUBACK with a 30-byte Reason String and a user property, codes 01 87.
    // Full: 33 + 7 = 40 (0x28); remaining 2 + 1 + 40 + 2 = 45 (0x2D); 47 bytes. Without the Reason String:
    // remaining 12, 14 bytes. Without either: remaining 5, 7 bytes.
    static let suback = Packet.suback(SubAckPacket(
        packetIdentifier: 9, reasonCodes: [.grantedQoS1, .notAuthorized],
        properties: [.reasonString(text("s", 30)), user("u", "v")]))
    static let subackFull = Wire.bytes("90 2D 00 09 28 1F 00 1E") + ascii("s", 30)
        + Wire.bytes("26 00 01 'u' 00 01 'v' 01 87")

    // CONNACK 0x87 with Reason String "no" and a user property: 17 bytes, 12 without the Reason String, 5 bare.
    static let connack = Packet.connack(ConnAckPacket(
        reasonCode: .notAuthorized, properties: [.reasonString("no"), user("k", "v")]))

    // AUTH 0x18 with method (never dropped), Reason String "rs" and a user property.
    // Full: 15 "M" (4) + 1F "rs" (5) + 26 k=v (7) = 16; remaining 18; 20 bytes. Without the Reason String: 11,
    // remaining 13, 15 bytes. Without either: 4, remaining 6, 8 bytes.
    static let auth = Packet.auth(AuthPacket(
        reasonCode: .continueAuthentication,
        properties: [.authenticationMethod("M"), .reasonString("rs"), user("k", "v")]))

    static let all: [SizeLimitedEncoding] = [
        .init("PUBACK fits whole", puback, maximum: 73, pubackFull),
        .init("PUBACK drops the Reason String first", puback, maximum: 72, pubackUserProperties),
        .init("PUBACK drops the Reason String first", puback, maximum: 20, pubackUserProperties),
        .init("PUBACK then drops user properties", puback, maximum: 19, pubackBare),
        .init("PUBACK then drops user properties", puback, maximum: 5, pubackBare),
        .init("PUBACK too large even bare", puback, maximum: 4, tooLarge: 5),
        .init("PUBACK Success fits whole", pubackSuccess, maximum: 19,
              Wire.bytes("40 11 00 01 00 0D 1F 00 03 'why' 26 00 01 'k' 00 01 'v'")),
        .init("PUBACK Success without Reason String", pubackSuccess, maximum: 18,
              Wire.bytes("40 0B 00 01 00 07 26 00 01 'k' 00 01 'v'")),
        .init("PUBACK Success bare is the short form", pubackSuccess, maximum: 12, Wire.bytes("40 02 00 01")),
        .init("PUBACK Success bare is the short form", pubackSuccess, maximum: 4, Wire.bytes("40 02 00 01")),
        .init("PUBACK Success too large", pubackSuccess, maximum: 3, tooLarge: 4),
        .init("DISCONNECT fits whole", disconnect, maximum: 59, disconnectFull),
        .init("DISCONNECT drops the Reason String", disconnect, maximum: 58,
              Wire.bytes("E0 0E 8B 0C 26 00 01 'k' 00 01 'v' 11 00 00 00 00")),
        .init("DISCONNECT drops the Reason String", disconnect, maximum: 16,
              Wire.bytes("E0 0E 8B 0C 26 00 01 'k' 00 01 'v' 11 00 00 00 00")),
        .init("DISCONNECT drops user properties, keeps Session Expiry", disconnect, maximum: 15,
              Wire.bytes("E0 07 8B 05 11 00 00 00 00")),
        .init("DISCONNECT drops user properties, keeps Session Expiry", disconnect, maximum: 9,
              Wire.bytes("E0 07 8B 05 11 00 00 00 00")),
        .init("DISCONNECT too large", disconnect, maximum: 8, tooLarge: 9),
        .init("SUBACK fits whole", suback, maximum: 47, subackFull),
        .init("SUBACK drops the Reason String", suback, maximum: 46,
              Wire.bytes("90 0C 00 09 07 26 00 01 'u' 00 01 'v' 01 87")),
        .init("SUBACK drops user properties", suback, maximum: 13, Wire.bytes("90 05 00 09 00 01 87")),
        .init("SUBACK too large", suback, maximum: 6, tooLarge: 7),
        .init("CONNACK fits whole", connack, maximum: 17,
              Wire.bytes("20 0F 00 87 0C 1F 00 02 'no' 26 00 01 'k' 00 01 'v'")),
        .init("CONNACK drops the Reason String", connack, maximum: 16,
              Wire.bytes("20 0A 00 87 07 26 00 01 'k' 00 01 'v'")),
        .init("CONNACK drops user properties", connack, maximum: 11, Wire.bytes("20 03 00 87 00")),
        .init("AUTH drops the Reason String", auth, maximum: 19,
              Wire.bytes("F0 0D 18 0B 15 00 01 'M' 26 00 01 'k' 00 01 'v'")),
        .init("AUTH drops user properties, keeps the method", auth, maximum: 14,
              Wire.bytes("F0 06 18 04 15 00 01 'M'")),
        .init("AUTH too large", auth, maximum: 7, tooLarge: 8),
    ]
}

/// A packet with one string or binary field one byte over the 65,535 limit of sections 1.5.4 and 1.5.6.
struct OverlongField: Sendable, CustomTestStringConvertible {
    let field: String
    let packet: Packet
    var testDescription: String { field }
}

@Suite("Encoder")
struct EncoderTests {
    // MARK: Fitting the peer's Maximum Packet Size

    @Test("Reason String, then user properties, are dropped to fit the peer's Maximum Packet Size",
          arguments: SizeLimitedEncodings.all)
    func propertyOmission(example: SizeLimitedEncoding) throws {
        if let wire = example.wire {
            let bytes = try encoded(example.packet, .v5, maximumPacketSize: example.maximumPacketSize)
            #expect(Wire.hex(bytes) == Wire.hex(wire))
            #expect(bytes.count <= example.maximumPacketSize)
        } else {
            #expect(throws: MQTTEncodingError.packetTooLarge(size: example.sizeAfterOmission,
                                                             maximum: example.maximumPacketSize)) {
                _ = try encoded(example.packet, .v5, maximumPacketSize: example.maximumPacketSize)
            }
        }
    }

    @Test("the encoded sizes of the omission examples")
    func omissionExampleSizes() {
        #expect(SizeLimitedEncodings.puback.encodedSize(version: .v5) == 73)
        #expect(SizeLimitedEncodings.pubackSuccess.encodedSize(version: .v5) == 19)
        #expect(SizeLimitedEncodings.disconnect.encodedSize(version: .v5) == 59)
        #expect(SizeLimitedEncodings.suback.encodedSize(version: .v5) == 47)
        #expect(SizeLimitedEncodings.connack.encodedSize(version: .v5) == 17)
        #expect(SizeLimitedEncodings.auth.encodedSize(version: .v5) == 20)
    }

    @Test("a PUBLISH that does not fit is not encoded at all", arguments: ProtocolVersion.allCases)
    func publishTooLarge(version: ProtocolVersion) throws {
        // Remaining: "a/b" 5 + id 2 + (5.0: property length 1 + user property 7) + 100.
        let packet = Packet.publish(PublishPacket(
            topic: "a/b", payload: ByteBuffer(repeating: 0x55, count: 100), qos: .atLeastOnce, packetIdentifier: 1,
            properties: [user("k", "v")]))
        let size = version == .v5 ? 1 + 1 + 115 : 1 + 1 + 107
        #expect(packet.encodedSize(version: version) == size)
        #expect(throws: MQTTEncodingError.packetTooLarge(size: size, maximum: size - 1)) {
            _ = try encoded(packet, version, maximumPacketSize: size - 1)
        }
        #expect(try encoded(packet, version, maximumPacketSize: size).count == size)
    }

    @Test("SUBSCRIBE and CONNECT keep their user properties and throw when too large")
    func requestsKeepUserProperties() {
        // SUBSCRIBE: 2 + properties (1 + 7) + "a" 3 + options 1 = 14; 16 bytes.
        let subscribe = Packet.subscribe(SubscribePacket(
            packetIdentifier: 1, subscriptions: [Subscription(topicFilter: "a", qos: .atMostOnce)],
            properties: [user("k", "v")]))
        #expect(throws: MQTTEncodingError.packetTooLarge(size: 16, maximum: 15)) {
            _ = try encoded(subscribe, .v5, maximumPacketSize: 15)
        }
        // CONNECT: 10 + properties (1 + 7) + "c" 3 = 21; 23 bytes.
        let connect = Packet.connect(ConnectPacket(clientIdentifier: "c", properties: [user("k", "v")]))
        #expect(throws: MQTTEncodingError.packetTooLarge(size: 23, maximum: 22)) {
            _ = try encoded(connect, .v5, maximumPacketSize: 22)
        }
    }

    // MARK: MQTT 3.1 and 3.1.1 encodings of the shared model

    @Test("SUBACK failure codes become 0x80 in 3.1 and 3.1.1", arguments: [ProtocolVersion.v3_1, .v3_1_1])
    func v3SubAckFailures(version: ProtocolVersion) throws {
        let packet = Packet.suback(SubAckPacket(
            packetIdentifier: 1,
            reasonCodes: [.grantedQoS0, .grantedQoS1, .grantedQoS2, .unspecifiedError, .notAuthorized,
                          .topicFilterInvalid, .quotaExceeded, .wildcardSubscriptionsNotSupported],
            properties: [.reasonString("x")]))
        #expect(Wire.hex(try encoded(packet, version)) == Wire.hex(Wire.bytes("90 0A 00 01 00 01 02 80 80 80 80 80")))
    }

    struct V3Encoding: Sendable, CustomTestStringConvertible {
        let name: String
        let packet: Packet
        let v3_1: [UInt8]
        let v3_1_1: [UInt8]
        init(_ name: String, _ packet: Packet, _ v3_1_1: String, v3_1: String? = nil) {
            self.name = name
            self.packet = packet
            self.v3_1_1 = Wire.bytes(v3_1_1)
            self.v3_1 = Wire.bytes(v3_1 ?? v3_1_1)
        }
        var testDescription: String { name }
    }

    static let v3Encodings: [V3Encoding] = [
        .init("PUBLISH without its properties",
              .publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "p"), qos: .atLeastOnce,
                                     packetIdentifier: 5, properties: [.messageExpiryInterval(60), user("k", "v")])),
              "32 06 00 01 't' 00 05 'p'"),
        .init("PUBACK without reason code and properties",
              .puback(PublishAckPacket(packetIdentifier: 7, reasonCode: .noMatchingSubscribers,
                                       properties: [.reasonString("r")])),
              "40 02 00 07"),
        .init("PUBREL without reason code",
              .pubrel(PublishAckPacket(packetIdentifier: 7, reasonCode: .packetIdentifierNotFound)),
              "62 02 00 07"),
        .init("DISCONNECT without reason code and properties",
              .disconnect(DisconnectPacket(reasonCode: .serverShuttingDown, properties: [.reasonString("bye")])),
              "E0 00"),
        .init("UNSUBACK without reason codes and properties",
              .unsuback(UnsubAckPacket(packetIdentifier: 3, reasonCodes: [.noSubscriptionExisted],
                                       properties: [.reasonString("r")])),
              "B0 02 00 03"),
        .init("SUBSCRIBE with only the QoS of the options and no properties",
              .subscribe(SubscribePacket(
                packetIdentifier: 2,
                subscriptions: [Subscription(topicFilter: "a", options: SubscriptionOptions(
                    qos: .atLeastOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend))],
                properties: [.subscriptionIdentifier(4)])),
              "82 06 00 02 00 01 'a' 01"),
        .init("UNSUBSCRIBE without properties",
              .unsubscribe(UnsubscribePacket(packetIdentifier: 4, topicFilters: ["a"], properties: [user("k", "v")])),
              "A2 05 00 04 00 01 'a'"),
        .init("CONNACK return code and no properties; no Session Present in 3.1",
              .connack(ConnAckPacket(sessionPresent: true, reasonCode: .badUserNameOrPassword,
                                     properties: [.assignedClientIdentifier("x")])),
              "20 02 01 04", v3_1: "20 02 00 04"),
        .init("CONNECT without properties and Will Properties",
              .connect(ConnectPacket(
                protocolVersion: .v3_1_1, clientIdentifier: "c",
                will: LastWill(topic: "t", payload: ByteBuffer(string: "x"), properties: [.willDelayInterval(5)]),
                properties: [.sessionExpiryInterval(10)])),
              "10 13 00 04 'MQTT' 04 06 00 3C 00 01 'c' 00 01 't' 00 01 'x'",
              v3_1: "10 15 00 06 'MQIsdp' 03 06 00 3C 00 01 'c' 00 01 't' 00 01 'x'"),
    ]

    @Test("3.1 and 3.1.1 ignore properties and 5.0-only fields", arguments: v3Encodings)
    func v3IgnoresProperties(example: V3Encoding) throws {
        #expect(Wire.hex(try encoded(example.packet, .v3_1_1)) == Wire.hex(example.v3_1_1))
        #expect(Wire.hex(try encoded(example.packet, .v3_1)) == Wire.hex(example.v3_1))
        #expect(example.packet.encodedSize(version: .v3_1_1) == example.v3_1_1.count)
        #expect(example.packet.encodedSize(version: .v3_1) == example.v3_1.count)
    }

    @Test("CONNACK reason codes map to 3.1.1 return codes")
    func connackReturnCodes() throws {
        let table: [(ReasonCode, UInt8)] = [
            (.success, 0), (.unsupportedProtocolVersion, 1), (.clientIdentifierNotValid, 2),
            (.serverUnavailable, 3), (.badUserNameOrPassword, 4), (.notAuthorized, 5),
            (.badAuthenticationMethod, 4), (.banned, 5), (.serverBusy, 3), (.unspecifiedError, 3),
            (.malformedPacket, 3), (.quotaExceeded, 3),
        ]
        for (reasonCode, returnCode) in table {
            let bytes = try encoded(.connack(ConnAckPacket(reasonCode: reasonCode)), .v3_1_1)
            #expect(bytes == [0x20, 0x02, 0x00, returnCode], "\(reasonCode)")
        }
    }

    @Test("user property strings over the limit are not checked where properties are not written")
    func v3DoesNotValidateProperties() throws {
        let packet = Packet.publish(PublishPacket(topic: "t", payload: ByteBuffer(),
                                                  properties: [user(text("n", 65_536), "v")]))
        #expect(try encoded(packet, .v3_1_1) == Wire.bytes("30 03 00 01 't'"))
        #expect(throws: MQTTEncodingError.fieldTooLong(65_536)) { _ = try encoded(packet, .v5) }
    }

    // MARK: encodedSize

    @Test("encodedSize equals the bytes written, for every golden packet in every version",
          arguments: ProtocolVersion.allCases)
    func encodedSizeMatches(version: ProtocolVersion) throws {
        for vector in GoldenVectors.all {
            if case .auth = vector.packet, version != .v5 { continue }
            let bytes = try encoded(vector.packet, version)
            #expect(vector.packet.encodedSize(version: version) == bytes.count, "\(vector.testDescription)")
        }
    }

    // MARK: Errors

    @Test("AUTH cannot be encoded for 3.1 or 3.1.1", arguments: [ProtocolVersion.v3_1, .v3_1_1])
    func authBeforeV5(version: ProtocolVersion) {
        #expect(throws: MQTTEncodingError.unsupportedInVersion(.auth, version)) {
            _ = try encoded(.auth(AuthPacket()), version)
        }
        #expect(throws: MQTTEncodingError.unsupportedInVersion(.auth, version)) {
            _ = try encoded(.auth(AuthPacket(reasonCode: .continueAuthentication,
                                             properties: [.authenticationMethod("M")])), version)
        }
    }

    static let overlongFields: [OverlongField] = {
        let long = text("x", 65_536)
        let longBytes = ByteBuffer(repeating: 0x78, count: 65_536)
        func publish(_ properties: Properties) -> Packet {
            .publish(PublishPacket(topic: "t", payload: ByteBuffer(), properties: properties))
        }
        return [
            .init(field: "PUBLISH topic", packet: .publish(PublishPacket(topic: long, payload: ByteBuffer()))),
            .init(field: "client identifier", packet: .connect(ConnectPacket(clientIdentifier: long))),
            .init(field: "user name", packet: .connect(ConnectPacket(clientIdentifier: "c", username: long))),
            .init(field: "password", packet: .connect(ConnectPacket(clientIdentifier: "c", username: "u",
                                                                    password: longBytes))),
            .init(field: "will topic", packet: .connect(ConnectPacket(
                clientIdentifier: "c", will: LastWill(topic: long, payload: ByteBuffer())))),
            .init(field: "will payload", packet: .connect(ConnectPacket(
                clientIdentifier: "c", will: LastWill(topic: "t", payload: longBytes)))),
            .init(field: "SUBSCRIBE topic filter", packet: .subscribe(SubscribePacket(
                packetIdentifier: 1, subscriptions: [Subscription(topicFilter: long, qos: .atMostOnce)]))),
            .init(field: "UNSUBSCRIBE topic filter", packet: .unsubscribe(UnsubscribePacket(
                packetIdentifier: 1, topicFilters: [long]))),
            .init(field: "user property name", packet: publish([user(long, "v")])),
            .init(field: "user property value", packet: publish([user("k", long)])),
            .init(field: "Content Type", packet: publish([.contentType(long)])),
            .init(field: "Response Topic", packet: publish([.responseTopic(long)])),
            .init(field: "Correlation Data", packet: publish([.correlationData(longBytes)])),
            .init(field: "Reason String", packet: .puback(PublishAckPacket(
                packetIdentifier: 1, reasonCode: .unspecifiedError, properties: [.reasonString(long)]))),
            .init(field: "Authentication Data", packet: .auth(AuthPacket(
                reasonCode: .continueAuthentication,
                properties: [.authenticationMethod("M"), .authenticationData(longBytes)]))),
            .init(field: "Will Properties Content Type", packet: .connect(ConnectPacket(
                clientIdentifier: "c",
                will: LastWill(topic: "t", payload: ByteBuffer(), properties: [.contentType(long)])))),
        ]
    }()

    @Test("a string or binary field over 65,535 bytes throws fieldTooLong and writes nothing",
          arguments: overlongFields)
    func fieldTooLong(field: OverlongField) {
        #expect(throws: MQTTEncodingError.fieldTooLong(65_536)) { _ = try encoded(field.packet, .v5) }
    }

    @Test("a field of exactly 65,535 bytes is accepted")
    func fieldAtTheLimit() throws {
        let packet = Packet.publish(PublishPacket(topic: text("x", 65_535), payload: ByteBuffer()))
        let bytes = try encoded(packet, .v3_1_1)
        // Remaining length 65,537 = 81 80 04.
        #expect(Array(bytes.prefix(6)) == Wire.bytes("30 81 80 04 FF FF"))
        #expect(bytes.count == 1 + 3 + 65_537)
    }

    @Test("a packet identifier is required exactly for QoS 1 and 2")
    func packetIdentifierMismatch() {
        #expect(throws: MQTTEncodingError.packetIdentifierMismatch) {
            _ = try encoded(.publish(PublishPacket(topic: "t", payload: ByteBuffer(), qos: .atLeastOnce)), .v5)
        }
        #expect(throws: MQTTEncodingError.packetIdentifierMismatch) {
            _ = try encoded(.publish(PublishPacket(topic: "t", payload: ByteBuffer(), packetIdentifier: 1)), .v3_1_1)
        }
    }

    @Test("a remaining length over 268,435,455 cannot be encoded")
    func remainingLengthTooLarge() {
        // Topic "a" (3) + 268,435,453 payload bytes = 268,435,456.
        let packet = Packet.publish(PublishPacket(topic: "a", payload: ByteBuffer(repeating: 0, count: 268_435_453)))
        #expect(throws: MQTTEncodingError.remainingLengthTooLarge(268_435_456)) { _ = try encoded(packet, .v3_1_1) }
    }
}
