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

    @Test("only QoS 0 without anything added is the same for every subscriber")
    func sameForEverySubscriber() {
        let message = Self.messages[0]
        #expect(OutgoingPublish(message: message, qos: .atMostOnce, retain: false, packetIdentifier: nil, now: Self.now)
            .isSameForEverySubscriber)
        #expect(!OutgoingPublish(message: message, qos: .atLeastOnce, retain: false, packetIdentifier: 1, now: Self.now)
            .isSameForEverySubscriber)
        #expect(!OutgoingPublish(message: message, qos: .atMostOnce, retain: false, packetIdentifier: nil,
                                 subscriptionIdentifiers: [2], now: Self.now).isSameForEverySubscriber)
        #expect(!OutgoingPublish(message: Self.messages[1], qos: .atMostOnce, retain: false, packetIdentifier: nil,
                                 now: Self.now).isSameForEverySubscriber)  // the remaining expiry
        var aliased = OutgoingPublish(message: message, qos: .atMostOnce, retain: false, packetIdentifier: nil,
                                      now: Self.now)
        aliased.useTopicAlias(1, known: false)
        #expect(!aliased.isSameForEverySubscriber)
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
