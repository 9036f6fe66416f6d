import MQTTCore
import NIOCore
import Testing

// Golden byte vectors, worked out by hand from the field layouts and examples of the OASIS MQTT 3.1.1 and 5.0
// standards (and IBM's MQTT 3.1 specification for protocol name "MQIsdp", level 3). Every remaining length,
// string length and property length below was counted by hand, not produced by the encoder.
//
// Notation of `Wire`: hex byte pairs separated by spaces, and ASCII text in single quotes ('MQTT' is 4D 51 54 54).

/// Test bytes written as hex pairs with quoted ASCII, e.g. `"10 0E 00 04 'MQTT' 04"`.
enum Wire {
    static func bytes(_ text: String) -> [UInt8] {
        var result: [UInt8] = []
        var iterator = text.makeIterator()
        var pendingNibble: UInt8?
        while let character = iterator.next() {
            if character == "'" {
                precondition(pendingNibble == nil, "odd number of hex digits before a quote in \(text)")
                while let c = iterator.next(), c != "'" {
                    precondition(c.isASCII, "only ASCII between quotes: \(text)")
                    result.append(c.asciiValue!)
                }
            } else if character.isWhitespace {
                precondition(pendingNibble == nil, "odd number of hex digits in \(text)")
            } else {
                guard let nibble = character.hexDigitValue else { preconditionFailure("bad hex \(character)") }
                if let high = pendingNibble {
                    result.append(high << 4 | UInt8(nibble))
                    pendingNibble = nil
                } else {
                    pendingNibble = UInt8(nibble)
                }
            }
        }
        precondition(pendingNibble == nil, "odd number of hex digits in \(text)")
        return result
    }

    static func buffer(_ text: String) -> ByteBuffer { ByteBuffer(bytes: bytes(text)) }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { ($0 < 0x10 ? "0" : "") + String($0, radix: 16, uppercase: true) }.joined(separator: " ")
    }

    static func hex(_ buffer: ByteBuffer) -> String { hex(buffer.readableBytesView) }
}

/// One hand-made vector: `wire` must decode to `packet`, and `packet` must encode to `wire`, for `version`.
struct GoldenVector: Sendable, CustomTestStringConvertible {
    enum Direction: Sendable {
        case both
        /// A legal but non-canonical form (e.g. an explicit Success reason code) that Tern never writes.
        case decodeOnly
    }

    let name: String
    let version: ProtocolVersion
    let wire: [UInt8]
    let packet: Packet
    let direction: Direction

    init(_ name: String, _ version: ProtocolVersion, _ wire: String, _ packet: Packet,
         _ direction: Direction = .both)
    {
        self.name = name
        self.version = version
        self.wire = Wire.bytes(wire)
        self.packet = packet
        self.direction = direction
    }

    var testDescription: String { "MQTT \(version) \(name)" }

    /// A decoder in the state a peer's would be in when this packet arrives: a server-side decoder that has seen
    /// nothing yet for CONNECT, one that knows the version for everything else.
    var decoder: MQTTPacketDecoder {
        if case .connect = packet { return MQTTPacketDecoder() }
        return MQTTPacketDecoder(protocolVersion: version)
    }
}

private func buf(_ string: String) -> ByteBuffer { ByteBuffer(string: string) }
private func buf(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }
private func user(_ name: String, _ value: String) -> Property { .userProperty(UserProperty(name, value)) }

enum GoldenVectors {
    // MARK: CONNECT (3.1.1 section 3.1, 5.0 section 3.1)

    static let connect: [GoldenVector] = [
        // Protocol name (6) + level (1) + flags (1) + keep alive (2) = 10; client id "c1" 4: remaining 14.
        GoldenVector("CONNECT minimal, clean session", .v3_1_1,
                     "10 0E 00 04 'MQTT' 04 02 00 3C 00 02 'c1'",
                     .connect(ConnectPacket(protocolVersion: .v3_1_1, cleanStart: true, keepAlive: 60,
                                            clientIdentifier: "c1"))),
        // Flags 0x82: user name, clean session. 10 + 3 + 3 = 16.
        GoldenVector("CONNECT with user name only", .v3_1_1,
                     "10 10 00 04 'MQTT' 04 82 00 3C 00 01 'c' 00 01 'u'",
                     .connect(ConnectPacket(protocolVersion: .v3_1_1, keepAlive: 60, clientIdentifier: "c",
                                            username: "u"))),
        // Flags 0xEC: user name 0x80, password 0x40, will retain 0x20, will QoS 1 0x08, will 0x04, clean 0.
        // 10 + "dev" 5 + "w/t" 5 + "bye" 5 + "user" 6 + password 4 = 35.
        GoldenVector("CONNECT with will (QoS 1, retain), user name and password", .v3_1_1,
                     "10 23 00 04 'MQTT' 04 EC 01 2C 00 03 'dev' 00 03 'w/t' 00 03 'bye' 00 04 'user' 00 02 01 02",
                     .connect(ConnectPacket(
                        protocolVersion: .v3_1_1, cleanStart: false, keepAlive: 300, clientIdentifier: "dev",
                        will: LastWill(topic: "w/t", payload: buf("bye"), qos: .atLeastOnce, retain: true),
                        username: "user", password: buf([0x01, 0x02])))),
        // MQTT 3.1: "MQIsdp" (8) + level 3 + flags 0xC2 + keep alive 10 = 12; "c1" 4 + "u" 3 + "p" 3 = 22.
        GoldenVector("CONNECT MQIsdp with user name and password", .v3_1,
                     "10 16 00 06 'MQIsdp' 03 C2 00 0A 00 02 'c1' 00 01 'u' 00 01 'p'",
                     .connect(ConnectPacket(protocolVersion: .v3_1, cleanStart: true, keepAlive: 10,
                                            clientIdentifier: "c1", username: "u", password: buf("p")))),
        // Flags 0x16: will QoS 2 0x10, will 0x04, clean 0x02. 12 + 3 + 3 + empty will payload 2 = 20.
        GoldenVector("CONNECT MQIsdp with will QoS 2 and empty will payload", .v3_1,
                     "10 14 00 06 'MQIsdp' 03 16 00 3C 00 01 'x' 00 01 't' 00 00",
                     .connect(ConnectPacket(protocolVersion: .v3_1, keepAlive: 60, clientIdentifier: "x",
                                            will: LastWill(topic: "t", payload: ByteBuffer(), qos: .exactlyOnce)))),
        // The variable header of the 5.0 example (Figure 3-6 style): keep alive 10, Session Expiry Interval 10.
        // Flags 0xC2: user name, password, clean start. 16 + "c" 3 + "u" 3 + "pw" 4 = 26.
        GoldenVector("CONNECT like the standard's example: keep alive 10, Session Expiry 10", .v5,
                     "10 1A 00 04 'MQTT' 05 C2 00 0A 05 11 00 00 00 0A 00 01 'c' 00 01 'u' 00 02 'pw'",
                     .connect(ConnectPacket(protocolVersion: .v5, cleanStart: true, keepAlive: 10,
                                            clientIdentifier: "c", username: "u", password: buf("pw"),
                                            properties: [.sessionExpiryInterval(10)]))),
        // No properties (length byte 0), empty client identifier. 11 + 2 = 13.
        GoldenVector("CONNECT minimal with empty client identifier", .v5,
                     "10 0D 00 04 'MQTT' 05 02 00 3C 00 00 00",
                     .connect(ConnectPacket(protocolVersion: .v5, keepAlive: 60, clientIdentifier: ""))),
        // 5.0 allows a password without a user name: flags 0x40. 11 + 3 + 4 = 18.
        GoldenVector("CONNECT with password but no user name", .v5,
                     "10 12 00 04 'MQTT' 05 40 00 00 00 00 01 'c' 00 02 'pw'",
                     .connect(ConnectPacket(protocolVersion: .v5, cleanStart: false, keepAlive: 0,
                                            clientIdentifier: "c", password: buf("pw")))),
        // Flags 0xCE: user name, password, will QoS 1, will, clean start.
        // CONNECT properties 40 (0x28): 11 00 00 00 0A (5) 21 00 14 (3) 27 00 00 10 00 (5) 22 00 0A (3) 19 01 (2)
        //   17 00 (2) 26 a=b (7) 15 "SCRAM" (8) 16 01 02 (5).
        // Will properties 35 (0x23): 18 00 00 00 05 (5) 01 01 (2) 02 00 00 00 3C (5) 03 "text" (7) 08 "r" (4)
        //   09 CA FE (5) 26 k=v (7).
        // Remaining: 10 + 1 + 40 + "c" 3 + 1 + 35 + "t" 3 + "hi" 4 + "u" 3 + "p" 3 = 103 (0x67).
        GoldenVector("CONNECT with every CONNECT and Will property", .v5,
                     """
                     10 67 00 04 'MQTT' 05 CE 00 0A
                     28 11 00 00 00 0A 21 00 14 27 00 00 10 00 22 00 0A 19 01 17 00 26 00 01 'a' 00 01 'b'
                        15 00 05 'SCRAM' 16 00 02 01 02
                     00 01 'c'
                     23 18 00 00 00 05 01 01 02 00 00 00 3C 03 00 04 'text' 08 00 01 'r' 09 00 02 CA FE
                        26 00 01 'k' 00 01 'v'
                     00 01 't' 00 02 'hi' 00 01 'u' 00 01 'p'
                     """,
                     .connect(ConnectPacket(
                        protocolVersion: .v5, cleanStart: true, keepAlive: 10, clientIdentifier: "c",
                        will: LastWill(topic: "t", payload: buf("hi"), qos: .atLeastOnce, retain: false,
                                       properties: [
                                        .willDelayInterval(5), .payloadFormatIndicator(.utf8),
                                        .messageExpiryInterval(60), .contentType("text"), .responseTopic("r"),
                                        .correlationData(buf([0xCA, 0xFE])), user("k", "v"),
                                       ]),
                        username: "u", password: buf("p"),
                        properties: [
                            .sessionExpiryInterval(10), .receiveMaximum(20), .maximumPacketSize(4096),
                            .topicAliasMaximum(10), .requestResponseInformation(true),
                            .requestProblemInformation(false), user("a", "b"), .authenticationMethod("SCRAM"),
                            .authenticationData(buf([0x01, 0x02])),
                        ]))),
    ]

    // MARK: CONNACK (3.1.1 section 3.2: return codes 0..5; 5.0 section 3.2)

    static let connack: [GoldenVector] = {
        let returnCodes: [(UInt8, ReasonCode)] = [
            (0, .success), (1, .unsupportedProtocolVersion), (2, .clientIdentifierNotValid),
            (3, .serverUnavailable), (4, .badUserNameOrPassword), (5, .notAuthorized),
        ]
        var vectors: [GoldenVector] = []
        for version in [ProtocolVersion.v3_1, .v3_1_1] {
            for (code, reasonCode) in returnCodes {
                vectors.append(GoldenVector("CONNACK return code \(code)", version, "20 02 00 0\(code)",
                                            .connack(ConnAckPacket(sessionPresent: false, reasonCode: reasonCode))))
            }
        }
        vectors += [
            GoldenVector("CONNACK session present", .v3_1_1, "20 02 01 00",
                         .connack(ConnAckPacket(sessionPresent: true, reasonCode: .success))),
            GoldenVector("CONNACK success, no properties", .v5, "20 03 00 00 00",
                         .connack(ConnAckPacket(reasonCode: .success))),
            GoldenVector("CONNACK Not authorized", .v5, "20 03 00 87 00",
                         .connack(ConnAckPacket(reasonCode: .notAuthorized))),
            // Server Reference 1C 00 02 'h2' = 5; remaining 2 + 1 + 5 = 8.
            GoldenVector("CONNACK Use another server with Server Reference", .v5, "20 08 00 9C 05 1C 00 02 'h2'",
                         .connack(ConnAckPacket(reasonCode: .useAnotherServer, properties: [.serverReference("h2")]))),
            // Properties: 11 (5) 21 (3) 24 (2) 25 (2) 27 (5) 12 "abc" (6) 22 (3) 1F "ok" (5) 26 x=y (7) 28 (2)
            // 29 (2) 2A (2) 13 (3) 1A "resp" (7) 1C "srv" (6) 15 "M" (4) 16 FF (4) = 68 (0x44); remaining 71.
            GoldenVector("CONNACK with every CONNACK property", .v5,
                         """
                         20 47 01 00 44 11 00 00 0E 10 21 00 0A 24 01 25 00 27 00 01 00 00 12 00 03 'abc'
                         22 00 05 1F 00 02 'ok' 26 00 01 'x' 00 01 'y' 28 00 29 01 2A 01 13 00 1E
                         1A 00 04 'resp' 1C 00 03 'srv' 15 00 01 'M' 16 00 01 FF
                         """,
                         .connack(ConnAckPacket(sessionPresent: true, reasonCode: .success, properties: [
                            .sessionExpiryInterval(3600), .receiveMaximum(10), .maximumQoS(.atLeastOnce),
                            .retainAvailable(false), .maximumPacketSize(65536), .assignedClientIdentifier("abc"),
                            .topicAliasMaximum(5), .reasonString("ok"), user("x", "y"),
                            .wildcardSubscriptionAvailable(false), .subscriptionIdentifierAvailable(true),
                            .sharedSubscriptionAvailable(true), .serverKeepAlive(30), .responseInformation("resp"),
                            .serverReference("srv"), .authenticationMethod("M"),
                            .authenticationData(buf([0xFF])),
                         ]))),
        ]
        return vectors
    }()

    // MARK: PUBLISH (section 3.3)

    static let publish: [GoldenVector] = [
        // Topic "a/b" 5 + payload 2 = 7.
        GoldenVector("PUBLISH QoS 0", .v3_1_1, "30 07 00 03 'a/b' 'hi'",
                     .publish(PublishPacket(topic: "a/b", payload: buf("hi")))),
        // Flags QoS 1 (0x02) | RETAIN (0x01) = 0x33. 5 + id 2 + 2 = 9.
        GoldenVector("PUBLISH QoS 1 retain", .v3_1_1, "33 09 00 03 'a/b' 00 0A 'hi'",
                     .publish(PublishPacket(topic: "a/b", payload: buf("hi"), qos: .atLeastOnce, retain: true,
                                            packetIdentifier: 10))),
        // Flags DUP (0x08) | QoS 2 (0x04) = 0x3C.
        GoldenVector("PUBLISH QoS 2 dup", .v3_1_1, "3C 09 00 03 'a/b' FF FF 'hi'",
                     .publish(PublishPacket(topic: "a/b", payload: buf("hi"), qos: .exactlyOnce, duplicate: true,
                                            packetIdentifier: 65535))),
        // DUP | QoS 2 | RETAIN = 0x3D. 3 + 2 + 3 = 8.
        GoldenVector("PUBLISH QoS 2 dup retain", .v3_1, "3D 08 00 01 't' 12 34 'xyz'",
                     .publish(PublishPacket(topic: "t", payload: buf("xyz"), qos: .exactlyOnce, retain: true,
                                            duplicate: true, packetIdentifier: 0x1234))),
        GoldenVector("PUBLISH QoS 0 empty payload", .v3_1, "30 03 00 01 't'",
                     .publish(PublishPacket(topic: "t", payload: ByteBuffer()))),
        GoldenVector("PUBLISH QoS 1", .v3_1, "32 05 00 01 't' 00 01",
                     .publish(PublishPacket(topic: "t", payload: ByteBuffer(), qos: .atLeastOnce,
                                            packetIdentifier: 1))),
        // 5 + property length 0 (1) + 2 = 8.
        GoldenVector("PUBLISH QoS 0, no properties", .v5, "30 08 00 03 'a/b' 00 'hi'",
                     .publish(PublishPacket(topic: "a/b", payload: buf("hi")))),
        // "ü/€" is C3 BC 2F E2 82 AC: 6 bytes. 8 + 1 = 9.
        GoldenVector("PUBLISH with a multi-byte UTF-8 topic", .v5, "30 09 00 06 C3 BC 2F E2 82 AC 00",
                     .publish(PublishPacket(topic: "ü/€", payload: ByteBuffer()))),
        // [MQTT-1.5.4-3]: EF BB BF is U+FEFF wherever it appears, never skipped or stripped.
        GoldenVector("PUBLISH topic starting with U+FEFF", .v3_1_1, "30 06 00 04 EF BB BF 'a'",
                     .publish(PublishPacket(topic: "\u{FEFF}a", payload: ByteBuffer()))),
        // A decomposed "é" (65 CC 81) stays decomposed: no normalization ([MQTT-4.7.3-4] for topics).
        GoldenVector("PUBLISH topic with a decomposed character", .v3_1_1, "30 05 00 03 'e' CC 81",
                     .publish(PublishPacket(topic: "e\u{301}", payload: ByteBuffer()))),
        // Properties: 01 01 (2) 02 .. 3C (5) 03 "text/plain" (13) 08 "reply" (8) 09 01 02 03 (6) 23 00 07 (3)
        // 0B 01 (2) 0B 80 01 (3) 0B FF FF FF 7F (5) 26 a=2 (7) 26 b=0 (7) 26 a=1 (7) = 68 (0x44).
        // Remaining: 5 + 2 + 1 + 68 + 2 = 78 (0x4E).
        GoldenVector(
            "PUBLISH QoS 1 with every PUBLISH property, three Subscription Identifiers, repeated user properties", .v5,
                     """
                     32 4E 00 03 'a/b' 00 01 44 01 01 02 00 00 00 3C 03 00 0A 'text/plain' 08 00 05 'reply'
                     09 00 03 01 02 03 23 00 07 0B 01 0B 80 01 0B FF FF FF 7F
                     26 00 01 'a' 00 01 '2' 26 00 01 'b' 00 01 '0' 26 00 01 'a' 00 01 '1' 'hi'
                     """,
                     .publish(PublishPacket(
                        topic: "a/b", payload: buf("hi"), qos: .atLeastOnce, packetIdentifier: 1,
                        properties: [
                            .payloadFormatIndicator(.utf8), .messageExpiryInterval(60), .contentType("text/plain"),
                            .responseTopic("reply"), .correlationData(buf([1, 2, 3])), .topicAlias(7),
                            .subscriptionIdentifier(1), .subscriptionIdentifier(128),
                            .subscriptionIdentifier(268_435_455), user("a", "2"), user("b", "0"), user("a", "1"),
                        ]))),
        // Empty topic name with a Topic Alias (5.0 section 3.3.2.3.4). DUP | QoS 2 | RETAIN = 0x3D.
        // Topic 2 + id 2 + 1 + 3 + payload 1 = 9.
        GoldenVector("PUBLISH QoS 2 dup retain, empty topic with Topic Alias", .v5, "3D 09 00 00 00 05 03 23 00 01 'x'",
                     .publish(PublishPacket(topic: "", payload: buf("x"), qos: .exactlyOnce, retain: true,
                                            duplicate: true, packetIdentifier: 5, properties: [.topicAlias(1)]))),
    ]

    // MARK: PUBACK, PUBREC, PUBREL, PUBCOMP (sections 3.4 to 3.7)

    static let publishAcks: [GoldenVector] = {
        var vectors: [GoldenVector] = []
        for version in [ProtocolVersion.v3_1, .v3_1_1, .v5] {
            vectors += [
                GoldenVector("PUBACK", version, "40 02 00 01", .puback(PublishAckPacket(packetIdentifier: 1))),
                GoldenVector("PUBREC", version, "50 02 00 02", .pubrec(PublishAckPacket(packetIdentifier: 2))),
                GoldenVector("PUBREL", version, "62 02 00 03", .pubrel(PublishAckPacket(packetIdentifier: 3))),
                GoldenVector("PUBCOMP", version, "70 02 FF FF", .pubcomp(PublishAckPacket(packetIdentifier: 65535))),
            ]
        }
        vectors += [
            // 5.0: remaining length 3 = reason code, no property length.
            GoldenVector("PUBACK No matching subscribers (short form)", .v5, "40 03 00 01 10",
                         .puback(PublishAckPacket(packetIdentifier: 1, reasonCode: .noMatchingSubscribers))),
            GoldenVector("PUBREC Unspecified error (short form)", .v5, "50 03 00 02 80",
                         .pubrec(PublishAckPacket(packetIdentifier: 2, reasonCode: .unspecifiedError))),
            GoldenVector("PUBREL Packet Identifier not found (short form)", .v5, "62 03 00 03 92",
                         .pubrel(PublishAckPacket(packetIdentifier: 3, reasonCode: .packetIdentifierNotFound))),
            GoldenVector("PUBCOMP Packet Identifier not found (short form)", .v5, "70 03 00 04 92",
                         .pubcomp(PublishAckPacket(packetIdentifier: 4, reasonCode: .packetIdentifierNotFound))),
            // Reason String 1F 00 06 'denied' = 9; 2 + 1 + 1 + 9 = 13.
            GoldenVector("PUBACK Not authorized with Reason String", .v5, "40 0D 00 01 87 09 1F 00 06 'denied'",
                         .puback(PublishAckPacket(packetIdentifier: 1, reasonCode: .notAuthorized,
                                                  properties: [.reasonString("denied")]))),
            // User property 26 00 01 'k' 00 02 'vv' = 8; 2 + 1 + 1 + 8 = 12. Success is written out when
            // properties follow.
            GoldenVector("PUBREC success with a user property", .v5, "50 0C 00 07 00 08 26 00 01 'k' 00 02 'vv'",
                         .pubrec(PublishAckPacket(packetIdentifier: 7, properties: [user("k", "vv")]))),
            GoldenVector("PUBREL with Reason String", .v5, "62 08 00 03 92 04 1F 00 01 'x'",
                         .pubrel(PublishAckPacket(packetIdentifier: 3, reasonCode: .packetIdentifierNotFound,
                                                  properties: [.reasonString("x")]))),
            GoldenVector("PUBCOMP success with Reason String", .v5, "70 09 00 04 00 05 1F 00 02 'ok'",
                         .pubcomp(PublishAckPacket(packetIdentifier: 4, properties: [.reasonString("ok")]))),
            // Non-canonical but legal forms.
            GoldenVector("PUBACK explicit success, no property length", .v5, "40 03 00 01 00",
                         .puback(PublishAckPacket(packetIdentifier: 1)), .decodeOnly),
            GoldenVector("PUBACK explicit success, empty properties", .v5, "40 04 00 01 00 00",
                         .puback(PublishAckPacket(packetIdentifier: 1)), .decodeOnly),
            // MQTT 3.1 allowed DUP on a re-sent PUBREL.
            GoldenVector("PUBREL with DUP", .v3_1, "6A 02 00 03",
                         .pubrel(PublishAckPacket(packetIdentifier: 3)), .decodeOnly),
        ]
        return vectors
    }()

    // MARK: SUBSCRIBE and SUBACK (sections 3.8 and 3.9)

    static let subscribe: [GoldenVector] = [
        // 2 + ("a/b" 5 + 1) + ("c/#" 5 + 1) = 14.
        GoldenVector("SUBSCRIBE two filters", .v3_1_1, "82 0E 00 0A 00 03 'a/b' 01 00 03 'c/#' 02",
                     .subscribe(SubscribePacket(packetIdentifier: 10, subscriptions: [
                        Subscription(topicFilter: "a/b", qos: .atLeastOnce),
                        Subscription(topicFilter: "c/#", qos: .exactlyOnce),
                     ]))),
        GoldenVector("SUBSCRIBE one filter", .v3_1, "82 06 00 01 00 01 '+' 00",
                     .subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: [
                        Subscription(topicFilter: "+", qos: .atMostOnce),
                     ]))),
        GoldenVector("SUBSCRIBE with DUP", .v3_1, "8A 06 00 01 00 01 '+' 00",
                     .subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: [
                        Subscription(topicFilter: "+", qos: .atMostOnce),
                     ])), .decodeOnly),
        // Options: "a" QoS 1 | No Local 0x04 | RAP 0x08 | Retain Handling 2 (0x20) = 0x2D; "b" QoS 2 | RH 1 (0x10)
        // = 0x12; "c" 0x00; "d" No Local only 0x04; "e" RAP only 0x08.
        // Properties: 0B 2A (2) + 26 u=v (7) = 9. Remaining 2 + 1 + 9 + 5 * 4 = 32.
        GoldenVector("SUBSCRIBE options bits and Subscription Identifier", .v5,
                     """
                     82 20 00 0B 09 0B 2A 26 00 01 'u' 00 01 'v'
                     00 01 'a' 2D 00 01 'b' 12 00 01 'c' 00 00 01 'd' 04 00 01 'e' 08
                     """,
                     .subscribe(SubscribePacket(
                        packetIdentifier: 11,
                        subscriptions: [
                            Subscription(topicFilter: "a", options: SubscriptionOptions(
                                qos: .atLeastOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend)),
                            Subscription(topicFilter: "b", options: SubscriptionOptions(
                                qos: .exactlyOnce, retainHandling: .sendOnNewSubscribe)),
                            Subscription(topicFilter: "c", options: SubscriptionOptions()),
                            Subscription(topicFilter: "d", options: SubscriptionOptions(noLocal: true)),
                            Subscription(topicFilter: "e", options: SubscriptionOptions(retainAsPublished: true)),
                        ],
                        properties: [.subscriptionIdentifier(42), user("u", "v")]))),
        // "$share/g/a/b" is 12 bytes. 2 + 1 + 14 + 1 = 18.
        GoldenVector("SUBSCRIBE shared subscription", .v5, "82 12 00 01 00 00 0C '$share/g/a/b' 01",
                     .subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: [
                        Subscription(topicFilter: "$share/g/a/b", qos: .atLeastOnce),
                     ]))),
    ]

    static let suback: [GoldenVector] = [
        GoldenVector("SUBACK granted QoS and failure", .v3_1_1, "90 06 00 0A 00 01 02 80",
                     .suback(SubAckPacket(packetIdentifier: 10, reasonCodes: [
                        .grantedQoS0, .grantedQoS1, .grantedQoS2, .unspecifiedError,
                     ]))),
        GoldenVector("SUBACK", .v3_1, "90 03 00 01 01",
                     .suback(SubAckPacket(packetIdentifier: 1, reasonCodes: [.grantedQoS1]))),
        // 2 + 1 + 5 = 8.
        GoldenVector("SUBACK reason codes", .v5, "90 08 00 0B 00 00 01 02 87 A2",
                     .suback(SubAckPacket(packetIdentifier: 11, reasonCodes: [
                        .grantedQoS0, .grantedQoS1, .grantedQoS2, .notAuthorized,
                        .wildcardSubscriptionsNotSupported,
                     ]))),
        // 2 + 1 + 5 + 1 = 9.
        GoldenVector("SUBACK with Reason String", .v5, "90 09 00 0C 05 1F 00 02 'no' 80",
                     .suback(SubAckPacket(packetIdentifier: 12, reasonCodes: [.unspecifiedError],
                                          properties: [.reasonString("no")]))),
    ]

    // MARK: UNSUBSCRIBE and UNSUBACK (sections 3.10 and 3.11)

    static let unsubscribe: [GoldenVector] = [
        GoldenVector("UNSUBSCRIBE two filters", .v3_1_1, "A2 0A 00 05 00 03 'a/b' 00 01 '#'",
                     .unsubscribe(UnsubscribePacket(packetIdentifier: 5, topicFilters: ["a/b", "#"]))),
        GoldenVector("UNSUBSCRIBE", .v3_1, "A2 05 00 06 00 01 'x'",
                     .unsubscribe(UnsubscribePacket(packetIdentifier: 6, topicFilters: ["x"]))),
        GoldenVector("UNSUBSCRIBE with DUP", .v3_1, "AA 05 00 06 00 01 'x'",
                     .unsubscribe(UnsubscribePacket(packetIdentifier: 6, topicFilters: ["x"])), .decodeOnly),
        // 2 + 1 + 7 + 3 = 13.
        GoldenVector("UNSUBSCRIBE with a user property", .v5, "A2 0D 00 07 07 26 00 01 'k' 00 01 'v' 00 01 'a'",
                     .unsubscribe(UnsubscribePacket(packetIdentifier: 7, topicFilters: ["a"],
                                                    properties: [user("k", "v")]))),
        GoldenVector("UNSUBSCRIBE no properties", .v5, "A2 06 00 08 00 00 01 'a'",
                     .unsubscribe(UnsubscribePacket(packetIdentifier: 8, topicFilters: ["a"]))),
    ]

    static let unsuback: [GoldenVector] = [
        GoldenVector("UNSUBACK", .v3_1_1, "B0 02 00 05", .unsuback(UnsubAckPacket(packetIdentifier: 5))),
        GoldenVector("UNSUBACK", .v3_1, "B0 02 00 06", .unsuback(UnsubAckPacket(packetIdentifier: 6))),
        GoldenVector("UNSUBACK reason codes", .v5, "B0 05 00 07 00 00 11",
                     .unsuback(UnsubAckPacket(packetIdentifier: 7, reasonCodes: [.success, .noSubscriptionExisted]))),
        // 2 + 1 + 4 + 2 = 9.
        GoldenVector("UNSUBACK with Reason String", .v5, "B0 09 00 08 04 1F 00 01 'r' 87 8F",
                     .unsuback(UnsubAckPacket(packetIdentifier: 8, reasonCodes: [.notAuthorized, .topicFilterInvalid],
                                              properties: [.reasonString("r")]))),
    ]

    // MARK: PINGREQ, PINGRESP, DISCONNECT, AUTH (sections 3.12 to 3.15)

    static let pingAndDisconnect: [GoldenVector] = {
        var vectors: [GoldenVector] = []
        for version in ProtocolVersion.allCases {
            vectors += [
                GoldenVector("PINGREQ", version, "C0 00", .pingreq),
                GoldenVector("PINGRESP", version, "D0 00", .pingresp),
                GoldenVector("DISCONNECT", version, "E0 00", .disconnect(DisconnectPacket())),
            ]
        }
        vectors += [
            GoldenVector("DISCONNECT with Will Message", .v5, "E0 01 04",
                         .disconnect(DisconnectPacket(reasonCode: .disconnectWithWillMessage))),
            GoldenVector("DISCONNECT Session taken over", .v5, "E0 01 8E",
                         .disconnect(DisconnectPacket(reasonCode: .sessionTakenOver))),
            GoldenVector("DISCONNECT normal with Session Expiry", .v5, "E0 07 00 05 11 00 00 00 3C",
                         .disconnect(DisconnectPacket(reasonCode: .normalDisconnection,
                                                      properties: [.sessionExpiryInterval(60)]))),
            // Properties: 11 (5) 1F "bye" (6) 1C "h2" (5) 26 k=v (7) = 23 (0x17); 1 + 1 + 23 = 25.
            GoldenVector("DISCONNECT Use another server with properties", .v5,
                         "E0 19 9C 17 11 00 00 00 00 1F 00 03 'bye' 1C 00 02 'h2' 26 00 01 'k' 00 01 'v'",
                         .disconnect(DisconnectPacket(reasonCode: .useAnotherServer, properties: [
                            .sessionExpiryInterval(0), .reasonString("bye"), .serverReference("h2"), user("k", "v"),
                         ]))),
            GoldenVector("DISCONNECT explicit normal", .v5, "E0 01 00",
                         .disconnect(DisconnectPacket()), .decodeOnly),
            GoldenVector("DISCONNECT explicit normal, empty properties", .v5, "E0 02 00 00",
                         .disconnect(DisconnectPacket()), .decodeOnly),
        ]
        return vectors
    }()

    static let auth: [GoldenVector] = [
        GoldenVector("AUTH success", .v5, "F0 00", .auth(AuthPacket())),
        // 15 "SCRAM-SHA-1" (14) + 16 01 02 03 04 (7) = 21 (0x15); 1 + 1 + 21 = 23.
        GoldenVector("AUTH Continue authentication with method and data", .v5,
                     "F0 17 18 15 15 00 0B 'SCRAM-SHA-1' 16 00 04 01 02 03 04",
                     .auth(AuthPacket(reasonCode: .continueAuthentication, properties: [
                        .authenticationMethod("SCRAM-SHA-1"), .authenticationData(buf([1, 2, 3, 4])),
                     ]))),
        // 1F "go" (5) + 26 'a' '' (6) = 11; 1 + 1 + 11 = 13.
        GoldenVector("AUTH Re-authenticate with Reason String and user property", .v5,
                     "F0 0D 19 0B 1F 00 02 'go' 26 00 01 'a' 00 00",
                     .auth(AuthPacket(reasonCode: .reAuthenticate, properties: [
                        .reasonString("go"), user("a", ""),
                     ]))),
        GoldenVector("AUTH explicit success", .v5, "F0 01 00", .auth(AuthPacket()), .decodeOnly),
    ]

    static let all: [GoldenVector] =
        connect + connack + publish + publishAcks + subscribe + suback + unsubscribe + unsuback + pingAndDisconnect
        + auth
    static let encodable = all.filter { $0.direction == .both }
}

@Suite("Golden vectors")
struct GoldenVectorTests {
    @Test("bytes decode to the packet", arguments: GoldenVectors.all)
    func decodes(vector: GoldenVector) throws {
        var buffer = ByteBuffer()
        // Start at a non-zero reader index, as after earlier packets.
        buffer.writeBytes([0xEE, 0xEE, 0xEE])
        buffer.moveReaderIndex(forwardBy: 3)
        buffer.writeBytes(vector.wire)
        var decoder = vector.decoder
        let decoded = try decoder.decode(&buffer)
        #expect(decoded == vector.packet)
        #expect(buffer.readableBytes == 0)
        #expect(decoder.protocolVersion == vector.version)
    }

    @Test("the packet encodes to the bytes", arguments: GoldenVectors.encodable)
    func encodes(vector: GoldenVector) throws {
        var buffer = ByteBuffer()
        buffer.writeBytes([0xEE])  // encoding appends at the writer index
        try vector.packet.encode(into: &buffer, version: vector.version)
        #expect(buffer.readInteger(as: UInt8.self) == 0xEE)
        #expect(Wire.hex(buffer) == Wire.hex(vector.wire))
        #expect(vector.packet.encodedSize(version: vector.version) == vector.wire.count)
    }

    @Test("every split point of a vector gives nil without consuming, and the rest completes it",
          arguments: GoldenVectors.all)
    func partialFrames(vector: GoldenVector) throws {
        for split in 0..<vector.wire.count {
            var decoder = vector.decoder
            var buffer = ByteBuffer()
            buffer.writeBytes([0xEE])
            buffer.moveReaderIndex(forwardBy: 1)
            buffer.writeBytes(vector.wire[..<split])
            let readerIndex = buffer.readerIndex
            #expect(try decoder.decode(&buffer) == nil, "split at \(split)")
            #expect(buffer.readerIndex == readerIndex, "split at \(split)")
            #expect(buffer.readableBytes == split, "split at \(split)")
            buffer.writeBytes(vector.wire[split...])
            #expect(try decoder.decode(&buffer) == vector.packet, "split at \(split)")
            #expect(buffer.readableBytes == 0, "split at \(split)")
        }
    }

    @Test("back-to-back packets decode one at a time without reading past each", arguments: ProtocolVersion.allCases)
    func backToBack(version: ProtocolVersion) throws {
        let vectors = GoldenVectors.all.filter { $0.version == version }
        let connect = try #require(vectors.first { $0.packet.type == .connect })
        let ordered = [connect] + vectors.filter { $0.packet.type != .connect }
        var buffer = ByteBuffer()
        for vector in ordered { buffer.writeBytes(vector.wire) }
        var decoder = MQTTPacketDecoder()
        for vector in ordered {
            #expect(try decoder.decode(&buffer) == vector.packet, "\(vector.name)")
        }
        #expect(try decoder.decode(&buffer) == nil)
        #expect(buffer.readableBytes == 0)
    }

    @Test("every packet type has an encodable vector in every version that has it")
    func coverage() {
        for version in ProtocolVersion.allCases {
            for type in PacketType.allCases where type != .auth || version == .v5 {
                #expect(GoldenVectors.encodable.contains { $0.version == version && $0.packet.type == type },
                        "no vector for \(type) in \(version)")
            }
        }
    }

    @Test("all 27 MQTT 5 properties appear in encodable vectors")
    func propertyCoverage() {
        var seen = Set<PropertyIdentifier>()
        for vector in GoldenVectors.encodable where vector.version == .v5 {
            for properties in Self.propertyLists(of: vector.packet) {
                for property in properties { seen.insert(property.identifier) }
            }
        }
        #expect(PropertyIdentifier.allCases.count == 27)
        #expect(seen == Set(PropertyIdentifier.allCases))
    }

    static func propertyLists(of packet: Packet) -> [Properties] {
        switch packet {
        case .connect(let p): [p.properties, p.will?.properties ?? []]
        case .connack(let p): [p.properties]
        case .publish(let p): [p.properties]
        case .puback(let p), .pubrec(let p), .pubrel(let p), .pubcomp(let p): [p.properties]
        case .subscribe(let p): [p.properties]
        case .suback(let p): [p.properties]
        case .unsubscribe(let p): [p.properties]
        case .unsuback(let p): [p.properties]
        case .pingreq, .pingresp: []
        case .disconnect(let p): [p.properties]
        case .auth(let p): [p.properties]
        }
    }

    @Test("decoded strings keep their exact bytes (String == would hide a normalization)",
          arguments: GoldenVectors.publish.filter { $0.name.contains("U+FEFF") || $0.name.contains("decomposed") })
    func stringsKeepTheirBytes(vector: GoldenVector) throws {
        var buffer = ByteBuffer(bytes: vector.wire)
        var decoder = vector.decoder
        guard case .publish(let decoded) = try decoder.decode(&buffer),
              case .publish(let expected) = vector.packet
        else {
            Issue.record("not a PUBLISH")
            return
        }
        #expect(Array(decoded.topic.utf8) == Array(expected.topic.utf8))
        #expect(Array(decoded.topic.utf8) == Array(vector.wire[4...]))
    }

    @Test("repeated user properties and Subscription Identifiers keep their order")
    func repeatedPropertiesKeepOrder() throws {
        let vector = try #require(GoldenVectors.publish.first { $0.name.contains("three Subscription Identifiers") })
        var buffer = ByteBuffer(bytes: vector.wire)
        var decoder = MQTTPacketDecoder(protocolVersion: .v5)
        guard case .publish(let publish) = try decoder.decode(&buffer) else {
            Issue.record("not a PUBLISH")
            return
        }
        #expect(publish.properties.subscriptionIdentifiers == [1, 128, 268_435_455])
        #expect(publish.properties.userProperties == [UserProperty("a", "2"), UserProperty("b", "0"),
                                                      UserProperty("a", "1")])
    }
}

// MARK: Variable byte integers (section 1.5.5 of 5.0, 2.2.3 of 3.1.1)

struct VariableByteIntegerExample: Sendable, CustomTestStringConvertible {
    let value: Int
    let encoding: [UInt8]
    var testDescription: String { "\(value) -> \(Wire.hex(encoding))" }
}

@Suite("Variable byte integer examples of the standard")
struct VariableByteIntegerTests {
    /// The table of section 1.5.5 (MQTT 5.0) / 2.2.3 (3.1.1).
    static let examples: [VariableByteIntegerExample] = [
        .init(value: 0, encoding: [0x00]),
        .init(value: 127, encoding: [0x7F]),
        .init(value: 128, encoding: [0x80, 0x01]),
        .init(value: 16_383, encoding: [0xFF, 0x7F]),
        .init(value: 16_384, encoding: [0x80, 0x80, 0x01]),
        .init(value: 2_097_151, encoding: [0xFF, 0xFF, 0x7F]),
        .init(value: 2_097_152, encoding: [0x80, 0x80, 0x80, 0x01]),
        .init(value: 268_435_455, encoding: [0xFF, 0xFF, 0xFF, 0x7F]),
    ]

    @Test("writeVariableByteInteger writes the standard's encodings", arguments: examples)
    func write(example: VariableByteIntegerExample) {
        var buffer = ByteBuffer()
        let written = buffer.writeVariableByteInteger(example.value)
        #expect(written == example.encoding.count)
        #expect(Array(buffer.readableBytesView) == example.encoding)
    }

    @Test("a remaining length of 0 (PINGREQ)")
    func zero() throws {
        var buffer = Wire.buffer("C0 00")
        var decoder = MQTTPacketDecoder(protocolVersion: .v3_1_1)
        #expect(try decoder.decode(&buffer) == .pingreq)
    }

    /// A 3.1.1 QoS 0 PUBLISH to topic "a" (3 bytes) whose payload makes the remaining length exactly `value`.
    @Test("PUBLISH remaining lengths at the boundaries, both directions",
          arguments: examples.filter { $0.value >= 3 })
    func publishBoundaries(example: VariableByteIntegerExample) throws {
        let payloadSize = example.value - 3
        var expected = ByteBuffer()
        expected.reserveCapacity(1 + example.encoding.count + example.value)
        expected.writeInteger(UInt8(0x30))
        expected.writeBytes(example.encoding)
        expected.writeBytes([0x00, 0x01, 0x61])
        expected.writeRepeatingByte(0x5A, count: payloadSize)

        let packet = Packet.publish(PublishPacket(topic: "a", payload: ByteBuffer(repeating: 0x5A, count: payloadSize)))
        #expect(packet.encodedSize(version: .v3_1_1) == expected.readableBytes)
        var encoded = ByteBuffer()
        try packet.encode(into: &encoded, version: .v3_1_1)
        #expect(encoded.readableBytes == expected.readableBytes)
        #expect(Array(encoded.readableBytesView.prefix(8)) == Array(expected.readableBytesView.prefix(8)))
        #expect(encoded == expected)

        var decoder = MQTTPacketDecoder(protocolVersion: .v3_1_1)
        // Everything but the last byte: not yet.
        var partial = expected.getSlice(at: expected.readerIndex, length: expected.readableBytes - 1)!
        #expect(try decoder.decode(&partial) == nil)
        let decoded = try decoder.decode(&expected)
        #expect(decoded == packet)
        #expect(expected.readableBytes == 0)
    }
}
