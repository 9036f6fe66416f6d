import MQTTCore
import NIOCore
import PropertyBased
import Testing

/// A decoder hands a topic name sent again in a row back as the string it decoded before, without validating the
/// bytes again (`MQTTPacketDecoder.lastTopic`): that must never change what a packet decodes to.
@Suite("Repeated topic names")
struct RepeatedTopicTests {
    /// Topic names as bytes on the wire: valid ones (long and short, one a prefix of another, the same length as
    /// another, and "é" precomposed and decomposed, which Swift's `String` would call equal), and invalid ones
    /// (wildcards, U+0000, malformed UTF-8, empty without an alias).
    static let topics: [[UInt8]] = [
        Array("sensors/building-1/floor-2/temperature".utf8),
        Array("sensors/building-1/floor-2/temperaturE".utf8),
        Array("sensors/building-1/floor-2".utf8),
        Array("a/b".utf8),
        Array("caf\u{E9}/menu".utf8),
        Array("cafe\u{301}/menu".utf8),
        Array("sensors/building-1/+/temperature".utf8),
        Array("sensors/#".utf8),
        Array("a/\u{0}".utf8),
        [0x61, 0x2F, 0xC3, 0x28],
        [],
    ]

    /// A QoS 0 PUBLISH with `topic` as it comes from the wire, the payload "x".
    static func publish(_ topic: [UInt8], version: ProtocolVersion) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeInteger(UInt16(topic.count))
        body.writeBytes(topic)
        if version == .v5 { body.writeInteger(UInt8(0)) }  // no properties
        body.writeString("x")
        var packet = ByteBuffer()
        packet.writeInteger(UInt8(0x30))
        packet.writeInteger(UInt8(body.readableBytes))  // under 128
        packet.writeBuffer(&body)
        return packet
    }

    /// What a packet decodes to: the packet, or the error's description.
    static func outcome(_ decoder: inout MQTTPacketDecoder, _ bytes: ByteBuffer) -> String {
        var bytes = bytes
        do {
            guard case .publish(let publish)? = try decoder.decode(&bytes) else { return "not a PUBLISH" }
            return "topic \(Array(publish.topic.utf8)) payload \(Array(publish.payload.readableBytesView))"
        } catch {
            return "error \(error)"
        }
    }

    @Test("a sequence of topics decodes as each would alone", arguments: [ProtocolVersion.v3_1_1, .v5])
    func sameAsAFreshDecoder(version: ProtocolVersion) async {
        let sequence = Gen.int(in: 0...(Self.topics.count - 1)).array(of: 1...12)
        await propertyCheck(count: 2000, input: sequence) { indices in
            var decoder = MQTTPacketDecoder(protocolVersion: version)
            for index in indices {
                let bytes = Self.publish(Self.topics[index], version: version)
                var fresh = MQTTPacketDecoder(protocolVersion: version)
                #expect(Self.outcome(&decoder, bytes) == Self.outcome(&fresh, bytes))
            }
        }
    }

    @Test func aTopicSentAgainIsTheStringDecodedBefore() throws {
        var decoder = MQTTPacketDecoder(protocolVersion: .v3_1_1)
        var topics: [String] = []
        for _ in 0..<2 {
            var bytes = Self.publish(Self.topics[0], version: .v3_1_1)
            guard case .publish(let publish)? = try decoder.decode(&bytes) else { Issue.record(); return }
            topics.append(publish.topic)
        }
        let storage = topics.map { topic in topic.utf8.withContiguousStorageIfAvailable { $0.baseAddress } }
        #expect(topics[0] == "sensors/building-1/floor-2/temperature")
        #expect(storage[0] != nil && storage[0] == storage[1])
    }
}
