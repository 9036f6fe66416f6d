import MQTTCore
import NIOCore
import PropertyBased
import Testing

/// The bytes a connection has read and not decoded: packets come out whole and in order wherever the reads split
/// them, and only a packet split between two reads is copied.
@Suite struct InboundBytesTests {
    private let allocator = ByteBufferAllocator()

    /// A CONNECT (the decoder learns the version from it), then PUBLISHes of varied sizes, a PINGREQ among them
    /// and one with a remaining length of two bytes.
    private func stream() throws -> (bytes: [UInt8], packets: [Packet]) {
        var packets: [Packet] = [.connect(ConnectPacket(protocolVersion: .v5, clientIdentifier: "inbound"))]
        for (index, size) in [0, 1, 64, 130, 1024, 3, 300].enumerated() {
            let payload = ByteBuffer(bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ index) })
            packets.append(.publish(PublishPacket(topic: "in/\(index)", payload: payload, qos: .atLeastOnce,
                                                  packetIdentifier: UInt16(index + 1))))
            if index == 2 { packets.append(.pingreq) }
        }
        var buffer = allocator.buffer(capacity: 4096)
        for packet in packets { try packet.encode(into: &buffer, version: .v5) }
        return (Array(buffer.readableBytesView), packets)
    }

    /// Appends `reads` in turn, decoding after each (as the handler does), and keeps every packet decoded: their
    /// payloads share the reads' storage, as the messages routed from them do.
    private func decode(_ reads: [[UInt8]], version: ProtocolVersion? = nil) throws -> [Packet] {
        var inbound = InboundBytes()
        var decoder = MQTTPacketDecoder(protocolVersion: version)
        var packets: [Packet] = []
        for read in reads {
            inbound.append(ByteBuffer(bytes: read), allocator: allocator)
            while let packet = try inbound.decode(with: &decoder) { packets.append(packet) }
        }
        #expect(inbound.count == 0)
        return packets
    }

    @Test func packetsComeOutWholeWhereverTwoReadsSplitThem() throws {
        let (bytes, packets) = try stream()
        for split in 0...bytes.count {
            #expect(try decode([Array(bytes[..<split]), Array(bytes[split...])]) == packets, "split at \(split)")
        }
    }

    @Test func packetsComeOutWholeAByteAtATime() throws {
        let (bytes, packets) = try stream()
        #expect(try decode(bytes.map { [$0] }) == packets)
    }

    @Test("random packets in reads of a random size", arguments: ProtocolVersion.allCases)
    func randomPacketsInReadsOfARandomSize(version: ProtocolVersion) async {
        let streams = RandomPacket<AnyRNG>.generator(for: version).array(of: 1...20)
        await propertyCheck(count: 300, input: streams, Gen.int(in: 1...300)) { packets, readSize in
            #expect(throws: Never.self) {
                var wire = ByteBuffer()
                for packet in packets { try packet.encode(into: &wire, version: version) }
                let bytes = Array(wire.readableBytesView)
                let reads = stride(from: 0, to: bytes.count, by: readSize).map {
                    Array(bytes[$0..<min(bytes.count, $0 + readSize)])
                }
                #expect(try decode(reads, version: version) == packets)
            }
        }
    }

    @Test func onlyThePacketSplitBetweenReadsIsCopied() throws {
        let (bytes, packets) = try stream()
        var decoder = MQTTPacketDecoder()
        var inbound = InboundBytes()
        // The first read ends inside the second PUBLISH (index 1: 1-byte payload) ...
        var first = allocator.buffer(capacity: 0)
        try packets[0].encode(into: &first, version: .v5)
        try packets[1].encode(into: &first, version: .v5)
        let split = first.readableBytes + 3
        inbound.append(ByteBuffer(bytes: bytes[..<split]), allocator: allocator)
        while try inbound.decode(with: &decoder) != nil {}
        #expect(inbound.count == 3)
        // ... the second holds its rest and the packets after it.
        let second = ByteBuffer(bytes: bytes[split...])
        inbound.append(second, allocator: allocator)
        var decoded: [Packet] = []
        while let packet = try inbound.decode(with: &decoder) { decoded.append(packet) }
        #expect(decoded == Array(packets[2...]))
        // The 1 KiB payload after the split packet was decoded in place: it lies in the second read's storage.
        let secondBase = second.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        guard case .publish(let large) = decoded.first(where: {
            if case .publish(let publish) = $0 { publish.payload.readableBytes == 1024 } else { false }
        }) else { Issue.record("no 1 KiB PUBLISH"); return }
        let payloadBase = large.payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(payloadBase > secondBase && payloadBase < secondBase + UInt(second.readableBytes))
    }

    @Test func aMalformedPacketAfterASplitOneStillFails() throws {
        let (bytes, packets) = try stream()
        var connect = allocator.buffer(capacity: 0)
        try packets[0].encode(into: &connect, version: .v5)
        var decoder = MQTTPacketDecoder()
        var inbound = InboundBytes()
        let split = connect.readableBytes - 2
        inbound.append(ByteBuffer(bytes: bytes[..<split]), allocator: allocator)
        #expect(try inbound.decode(with: &decoder) == nil)
        // The CONNECT's last two bytes, then a packet of the reserved type 0.
        inbound.append(ByteBuffer(bytes: Array(bytes[split..<connect.readableBytes]) + [0x00, 0x00]),
                       allocator: allocator)
        #expect(try inbound.decode(with: &decoder) == packets[0])
        #expect(throws: MQTTDecodingError.self) { try inbound.decode(with: &decoder) }
    }
}
