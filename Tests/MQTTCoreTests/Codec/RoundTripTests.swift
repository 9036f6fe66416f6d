import MQTTCore
import NIOCore
import PropertyBased
import Testing

@Suite("Codec round trips")
struct RoundTripTests {
    /// Encodes, then decodes with a decoder that already knows the version (as a client's does, or a server's
    /// after CONNECT).
    static func roundTrip(_ packet: Packet, _ version: ProtocolVersion) throws -> Packet? {
        var buffer = ByteBuffer()
        try packet.encode(into: &buffer, version: version)
        #expect(buffer.readableBytes == packet.encodedSize(version: version))
        var decoder = MQTTPacketDecoder(protocolVersion: version)
        let decoded = try decoder.decode(&buffer)
        #expect(buffer.readableBytes == 0)
        return decoded
    }

    @Test("random packets survive encode then decode", arguments: ProtocolVersion.allCases)
    func randomPackets(version: ProtocolVersion) async throws {
        // PropertyBased ignores errors thrown by the body: record them as issues.
        await propertyCheck(count: 3000, input: RandomPacket<AnyRNG>.generator(for: version)) { packet in
            #expect(throws: Never.self) { try #expect(Self.roundTrip(packet, version) == packet) }
        }
    }

    @Test("a stream of packets cut at random points decodes to the same packets", arguments: ProtocolVersion.allCases)
    func streamsCutAnywhere(version: ProtocolVersion) async throws {
        let stream = RandomPacket<AnyRNG>.generator(for: version).array(of: 1...20)
        await propertyCheck(count: 300, input: stream, Gen.int(in: 1...64)) { packets, chunkSize in
            #expect(throws: Never.self) { try Self.decodeInChunks(packets, version: version, chunkSize: chunkSize) }
        }
    }

    static func decodeInChunks(_ packets: [Packet], version: ProtocolVersion, chunkSize: Int) throws {
        var wire = ByteBuffer()
        for packet in packets { try packet.encode(into: &wire, version: version) }
        var decoder = MQTTPacketDecoder(protocolVersion: version)
        var received = ByteBuffer()
        var decoded: [Packet] = []
        while wire.readableBytes > 0 {
            var chunk = wire.readSlice(length: min(chunkSize, wire.readableBytes))!
            received.writeBuffer(&chunk)
            while let packet = try decoder.decode(&received) { decoded.append(packet) }
        }
        #expect(decoded == packets)
        #expect(received.readableBytes == 0)
    }

    @Test("a server-side decoder learns the version from CONNECT", arguments: ProtocolVersion.allCases)
    func serverLearnsVersion(version: ProtocolVersion) throws {
        let connect = Packet.connect(ConnectPacket(protocolVersion: version, clientIdentifier: "c1"))
        let publish = Packet.publish(PublishPacket(
            topic: "a/b", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, packetIdentifier: 7,
            properties: version == .v5 ? [.messageExpiryInterval(30)] : []))
        var wire = ByteBuffer()
        try connect.encode(into: &wire, version: version)
        try publish.encode(into: &wire, version: version)
        var decoder = MQTTPacketDecoder()
        #expect(try decoder.decode(&wire) == connect)
        #expect(decoder.protocolVersion == version)
        #expect(try decoder.decode(&wire) == publish)
        #expect(try decoder.decode(&wire) == nil)
    }

    @Test("every packet type with every field set", arguments: ProtocolVersion.allCases)
    func everyTypeFullyPopulated(version: ProtocolVersion) throws {
        var builder = RandomPacket(rng: SystemRandomNumberGenerator(), version: version)
        for type in PacketType.allCases where type != .auth || version == .v5 {
            for _ in 0..<50 {
                let packet = builder.packet(of: type)
                #expect(try Self.roundTrip(packet, version) == packet)
            }
        }
    }
}
