import MQTTCore
import NIOCore
import Testing
@testable import TernBroker

@Suite("A delivery encoded straight from its message")
struct OutgoingPublishTests {
    static let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    static let messages: [ApplicationMessage] = [
        ApplicationMessage(topic: "a/b", payload: ByteBuffer(string: "hello"), qos: .atMostOnce, retain: false),
        ApplicationMessage(
            topic: "sensors/kitchen/temperature", payload: ByteBuffer(repeating: 7, count: 300), qos: .exactlyOnce,
            retain: true,
            properties: [.contentType("text/plain"), .userProperty(UserProperty("k", "v")),
                         .correlationData(ByteBuffer(string: "c"))],
            expiresAt: now + .seconds(90)),
        ApplicationMessage(topic: "€/ü", payload: ByteBuffer(), qos: .atLeastOnce, retain: false,
                           properties: [.payloadFormatIndicator(.utf8)]),
        // No properties: written in one pass (PublishPacket.writeWithoutProperties); a 3-byte remaining length.
        ApplicationMessage(topic: "big", payload: ByteBuffer(repeating: 1, count: 20_000), qos: .atLeastOnce,
                           retain: false),
    ]

    /// Every combination of what a hop adds, for each message and protocol version.
    static var deliveries: [OutgoingPublish] {
        var all: [OutgoingPublish] = []
        for message in messages {
            for qos in [QoS.atMostOnce, .atLeastOnce, .exactlyOnce] {
                for identifiers in [[], [1], [5, 268_435_455]] as [[UInt32]] {
                    for (retain, duplicate) in [(false, false), (true, qos != .atMostOnce)] {
                        let publish = OutgoingPublish(
                            message: message, qos: qos, retain: retain, duplicate: duplicate,
                            packetIdentifier: qos == .atMostOnce ? nil : 513, subscriptionIdentifiers: identifiers,
                            now: now + .milliseconds(2500))
                        all.append(publish)
                        for known in [false, true] {
                            var aliased = publish
                            aliased.useTopicAlias(3, known: known)
                            all.append(aliased)
                        }
                    }
                }
            }
        }
        return all
    }

    @Test("the bytes are those of the same PUBLISH built as a packet, in every version")
    func sameBytesAsThePacket() throws {
        for publish in Self.deliveries {
            for version in [ProtocolVersion.v3_1, .v3_1_1, .v5] {
                var direct = ByteBuffer()
                try publish.encode(into: &direct, version: version)
                var viaPacket = ByteBuffer()
                try Packet.publish(publish.packet).encode(into: &viaPacket, version: version)
                #expect(direct == viaPacket)
                #expect(publish.encodedSize(version: version) == direct.readableBytes)
            }
        }
    }

    @Test("[MQTT-3.3.2-6] the remaining expiry and the subscription identifiers follow the message's properties")
    func addedProperties() throws {
        let publish = OutgoingPublish(message: Self.messages[1], qos: .atLeastOnce, retain: false,
                                      packetIdentifier: 9, subscriptionIdentifiers: [4], now: Self.now + .seconds(30))
        var bytes = ByteBuffer()
        try publish.encode(into: &bytes, version: .v5)
        var decoder = MQTTPacketDecoder(protocolVersion: .v5)
        guard case .publish(let decoded)? = try decoder.decode(&bytes) else {
            Issue.record("not a PUBLISH")
            return
        }
        #expect(decoded.topic == "sensors/kitchen/temperature")
        #expect(decoded.packetIdentifier == 9)
        #expect(Array(decoded.properties.prefix(3)) == Array(Self.messages[1].properties))
        #expect(decoded.properties.messageExpiryInterval == 60)
        #expect(decoded.properties.subscriptionIdentifiers == [4])
    }

    @Test("without anything added for the hop, every subscriber gets the same bytes but for the packet identifier")
    func sameButForPacketIdentifier() {
        let message = Self.messages[0]
        #expect(OutgoingPublish(message: message, qos: .atMostOnce, retain: false, packetIdentifier: nil, now: Self.now)
            .isSameButForPacketIdentifier)
        #expect(OutgoingPublish(message: message, qos: .atLeastOnce, retain: false, packetIdentifier: 1, now: Self.now)
            .isSameButForPacketIdentifier)
        #expect(!OutgoingPublish(message: message, qos: .atMostOnce, retain: false, packetIdentifier: nil,
                                 subscriptionIdentifiers: [2], now: Self.now).isSameButForPacketIdentifier)
        #expect(!OutgoingPublish(message: Self.messages[1], qos: .atMostOnce, retain: false, packetIdentifier: nil,
                                 now: Self.now).isSameButForPacketIdentifier)  // the remaining expiry
        var aliased = OutgoingPublish(message: message, qos: .atMostOnce, retain: false, packetIdentifier: nil,
                                      now: Self.now)
        aliased.useTopicAlias(1, known: false)
        #expect(!aliased.isSameButForPacketIdentifier)
    }

    @Test("the packet identifier's place in an encoded PUBLISH is found from its header and rewritten in a copy",
          arguments: [ProtocolVersion.v3_1_1, .v5])
    func packetIdentifierOffset(version: ProtocolVersion) throws {
        // Topics whose PUBLISH needs one, two and three bytes of remaining length.
        for topicLength in [1, 200, 20_000] {
            let message = ApplicationMessage(topic: String(repeating: "t", count: topicLength),
                                             payload: ByteBuffer(string: "payload"), qos: .exactlyOnce,
                                             retain: true)
            var buffer = ByteBuffer(bytes: [0xEE, 0xEE])
            try OutgoingPublish(message: message, qos: .exactlyOnce, retain: true, packetIdentifier: 0x1234,
                                now: Self.now).encode(into: &buffer, version: version)
            let offset = try #require(PublishPacket.packetIdentifierOffset(ofPacketAt: 2, in: buffer))
            #expect(buffer.getInteger(at: 2 + offset, as: UInt16.self) == 0x1234)
            // A copy for another subscriber: the same bytes after what the buffer held, but its identifier.
            let packet = buffer.getSlice(at: 2, length: buffer.readableBytes - 2)!
            var copy = ByteBuffer(bytes: [0xEE])
            PublishPacket.writeCopy(of: packet, packetIdentifier: 0xBEEF, at: offset, into: &copy)
            var expected = Array(packet.readableBytesView)
            expected[offset] = 0xBE
            expected[offset + 1] = 0xEF
            #expect(Array(copy.readableBytesView) == [0xEE] + expected)
            // A packet cut short of its identifier, and a QoS 0 PUBLISH, have none.
            let cut = buffer.getSlice(at: 0, length: 2 + offset + 1)!
            #expect(PublishPacket.packetIdentifierOffset(ofPacketAt: 2, in: cut) == nil)
        }
        var qos0 = ByteBuffer()
        try OutgoingPublish(message: Self.messages[0], qos: .atMostOnce, retain: false, packetIdentifier: nil,
                            now: Self.now).encode(into: &qos0, version: version)
        #expect(PublishPacket.packetIdentifierOffset(ofPacketAt: 0, in: qos0) == nil)
    }

    @Test("a topic longer than a UTF-8 string can carry is refused, and nothing is written")
    func topicTooLong() {
        let message = ApplicationMessage(topic: String(repeating: "t", count: 65_536), payload: ByteBuffer(),
                                         qos: .atMostOnce, retain: false)
        let publish = OutgoingPublish(message: message, qos: .atMostOnce, retain: false, packetIdentifier: nil,
                                      now: Self.now)
        var buffer = ByteBuffer()
        #expect(throws: MQTTEncodingError.self) { try publish.encode(into: &buffer, version: .v5) }
        #expect(buffer.readableBytes == 0)
    }
}
