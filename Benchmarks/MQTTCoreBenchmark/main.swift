// Codec micro-benchmark: decode and encode rates for PUBLISH packets, so later changes can be compared.
// Run with `scripts/bench codec` (a release build); figures are recorded in BENCHMARKS.md.
import MQTTCore
import NIOCore

/// Packets sent in turn: one, or several whose topics differ (a decoder reuses the topic of the packet before).
struct Scenario {
    let name: String
    let version: ProtocolVersion
    let packets: [Packet]

    init(name: String, version: ProtocolVersion, packet: Packet, alternatingWith others: [Packet] = []) {
        self.name = name
        self.version = version
        self.packets = [packet] + others
    }
}

func publish(payloadSize: Int, qos: QoS, properties: Properties,
             topic: String = "sensors/building-7/floor-3/temperature") -> Packet {
    .publish(PublishPacket(
        topic: topic,
        payload: ByteBuffer(repeating: 0x5A, count: payloadSize),
        qos: qos,
        packetIdentifier: qos == .atMostOnce ? nil : 4242,
        properties: properties))
}

let scenarios = [
    Scenario(name: "PUBLISH 64 B QoS 0, 3.1.1", version: .v3_1_1, packet: publish(payloadSize: 64, qos: .atMostOnce, properties: [])),
    Scenario(name: "PUBLISH 64 B QoS 0, 3.1.1, two topics in turn", version: .v3_1_1,
             packet: publish(payloadSize: 64, qos: .atMostOnce, properties: []),
             alternatingWith: [publish(payloadSize: 64, qos: .atMostOnce, properties: [],
                                       topic: "sensors/building-7/floor-3/humidity")]),
    Scenario(name: "PUBLISH 64 B QoS 1, 5.0 + 2 properties", version: .v5,
             packet: publish(payloadSize: 64, qos: .atLeastOnce,
                             properties: [.messageExpiryInterval(60), .userProperty(UserProperty("trace", "abc123"))])),
    Scenario(name: "PUBLISH 1 KiB QoS 0, 3.1.1", version: .v3_1_1, packet: publish(payloadSize: 1024, qos: .atMostOnce, properties: [])),
    Scenario(name: "PUBLISH 1 KiB QoS 1, 5.0 + 2 properties", version: .v5,
             packet: publish(payloadSize: 1024, qos: .atLeastOnce,
                             properties: [.messageExpiryInterval(60), .userProperty(UserProperty("trace", "abc123"))])),
]

let batch = 10_000
let rounds = 7
let arguments = CommandLine.arguments.dropFirst()
let minimumSeconds = arguments.first.flatMap(Double.init) ?? 0.2

/// Runs `body` (which handles `batch` packets) repeatedly for at least `minimumSeconds`, `rounds` times, and returns
/// the median rate in packets per second.
func measure(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    var rates: [Double] = []
    for _ in 0..<rounds {
        var iterations = 0
        let start = clock.now
        var elapsed = Duration.zero
        repeat {
            try body()
            iterations += 1
            elapsed = clock.now - start
        } while elapsed < .milliseconds(Int64(minimumSeconds * 1000))
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        rates.append(Double(iterations * batch) / seconds)
    }
    return rates.sorted()[rounds / 2]
}

func format(_ rate: Double) -> String {
    let millions = (rate / 1e4).rounded() / 100
    return "\(millions) M/s"
}

print("| scenario | bytes | decode | decode, 64 KB reads | encode |")
print("|---|---|---|---|---|")
for scenario in scenarios {
    var wire = ByteBuffer()
    for index in 0..<batch {
        try scenario.packets[index % scenario.packets.count].encode(into: &wire, version: scenario.version)
    }
    let size = scenario.packets[0].encodedSize(version: scenario.version)

    var decoded = 0
    let decodeRate = try measure {
        var input = wire
        var decoder = MQTTPacketDecoder(protocolVersion: scenario.version)
        while let packet = try decoder.decode(&input) {
            if case .publish = packet { decoded += 1 }
        }
    }
    // The same bytes in reads of 64 KB, most of which end inside a packet, through `InboundBytes` as a
    // connection's handler feeds them; a read's packets are held until the next read, as the messages routed from
    // them hold its storage.
    let reads = stride(from: 0, to: wire.readableBytes, by: 65_536).map {
        ByteBuffer(bytes: wire.getBytes(at: $0, length: min(65_536, wire.readableBytes - $0))!)
    }
    let allocator = ByteBufferAllocator()
    var held: [Packet] = []
    let readsRate = try measure {
        var inbound = InboundBytes()
        var decoder = MQTTPacketDecoder(protocolVersion: scenario.version)
        for read in reads {
            held.removeAll(keepingCapacity: true)
            inbound.append(read, allocator: allocator)
            while let packet = try inbound.decode(with: &decoder) { held.append(packet) }
        }
    }
    var output = ByteBuffer()
    output.reserveCapacity(wire.readableBytes)
    let encodeRate = try measure {
        output.clear()
        for index in 0..<batch {
            try scenario.packets[index % scenario.packets.count].encode(into: &output, version: scenario.version)
        }
    }
    precondition(decoded > 0 && output.readableBytes == wire.readableBytes)
    print("| \(scenario.name) | \(size) | \(format(decodeRate)) | \(format(readsRate)) | \(format(encodeRate)) |")
}
