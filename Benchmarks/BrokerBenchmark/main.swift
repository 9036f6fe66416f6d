// Broker core micro-benchmark: messages per second through `Broker.receive` with no sockets, so the routing and
// delivery path can be profiled and compared between changes (`scripts/bench arc` gives stable counts of the whole
// server's reference-count operations per message).
// Every outgoing packet is encoded into a reused buffer, as the server does. Run with `scripts/bench core`;
// figures are recorded in BENCHMARKS.md. Guards: deliveries encoded straight from the message in one pass (every
// scenario), the in-place session updates on acknowledgements (QoS 1 scenarios), the allocation-free route that
// hashes no client identifier for a message matching one filter and reads its entries in place (fan-in, fan-out),
// routing with many subscriptions (from the topic match cache, and walking the trie for topics that do not
// repeat), the paced retained delivery with its session taken in place once per batch, and connections opened and
// closed among 10,000 others (the connection tables' removals, once linear in the table's size).
import MQTTCore
import NIOCore
import TernBroker

/// Encodes every packet, counts PUBLISHes, and remembers the QoS 1 identifiers each subscriber must acknowledge.
final class Sink {
    var scratch = ByteBuffer()
    var published = 0
    var acknowledgements: [(ConnectionID, UInt16)] = []
}

struct CountingOutput: BrokerOutput {
    let sink: Sink

    mutating func send(_ packet: Packet, to connection: ConnectionID) {
        sink.scratch.clear()
        try? packet.encode(into: &sink.scratch, version: .v5)
        if case .publish(let publish) = packet {
            sink.published += 1
            if let id = publish.packetIdentifier { sink.acknowledgements.append((connection, id)) }
        }
    }

    /// As the server does: encoded straight from the message.
    mutating func send(_ publish: OutgoingPublish, to connection: ConnectionID) {
        sink.scratch.clear()
        try? publish.encode(into: &sink.scratch, version: .v5)
        sink.published += 1
        if let id = publish.packetIdentifier { sink.acknowledgements.append((connection, id)) }
    }

    mutating func close(_ connection: ConnectionID) {}
    mutating func authenticate(_ request: AuthenticationRequest) {}
}

struct Scenario {
    let name: String
    let publishers: Int
    let subscribers: Int
    let qos: QoS
    let extraSubscriptions: Int
    let filter: (Int) -> String
    /// Each publisher sends to this many topics in turn (`bench/in/{p}-{k}`), or to `bench/in/{p}` alone.
    var topicsPerPublisher = 1
}

let scenarios = [
    Scenario(name: "fan-in QoS 0, 4 publishers", publishers: 4, subscribers: 1, qos: .atMostOnce,
             extraSubscriptions: 0, filter: { _ in "bench/in/+" }),
    Scenario(name: "fan-in QoS 1, 4 publishers", publishers: 4, subscribers: 1, qos: .atLeastOnce,
             extraSubscriptions: 0, filter: { _ in "bench/in/+" }),
    Scenario(name: "fan-out QoS 0, 100 subscribers", publishers: 1, subscribers: 100, qos: .atMostOnce,
             extraSubscriptions: 0, filter: { _ in "bench/in/0" }),
    Scenario(name: "fan-out QoS 1, 100 subscribers", publishers: 1, subscribers: 100, qos: .atLeastOnce,
             extraSubscriptions: 0, filter: { _ in "bench/in/0" }),
    Scenario(name: "fan-in QoS 0, 100,000 other subscriptions", publishers: 4, subscribers: 1, qos: .atMostOnce,
             extraSubscriptions: 100_000, filter: { _ in "bench/in/+" }),
    // No topic comes back before 40,000 others: every message misses the topic match cache and walks the trie.
    Scenario(name: "fan-in QoS 0, 100,000 other subscriptions, 40,000 topics", publishers: 4, subscribers: 1,
             qos: .atMostOnce, extraSubscriptions: 100_000, filter: { _ in "bench/in/+" }, topicsPerPublisher: 10_000),
]

let arguments = CommandLine.arguments.dropFirst()
let minimumSeconds = arguments.first.flatMap(Double.init) ?? 0.2
let rounds = 7
let batch = 1000

func connect(_ broker: Broker, _ id: UInt64, _ clientID: String, output: inout CountingOutput) -> ConnectionID {
    let connection = ConnectionID(id)
    broker.connectionOpened(connection, now: .now())
    broker.receive(.connect(ConnectPacket(clientIdentifier: clientID)), from: connection, now: .now(),
                   output: &output)
    return connection
}

/// A scenario set up on a fresh broker: subscribers subscribed, publishers connected, their packets built.
struct ScenarioSetup {
    let broker: Broker
    let sink: Sink
    var output: CountingOutput
    let publishers: [ConnectionID]
    let packets: [Packet]
    /// The next packet to publish: publisher p's k-th topic at p + k * publishers, so that the publishers take
    /// turns and each cycles its topics.
    var next = 0

    init(_ scenario: Scenario) {
        broker = Broker()
        sink = Sink()
        output = CountingOutput(sink: sink)
        var nextID: UInt64 = 0
        func nextConnection() -> UInt64 {
            nextID += 1
            return nextID
        }
        for s in 0..<scenario.subscribers {
            let id = connect(broker, nextConnection(), "subscriber-\(s)", output: &output)
            broker.receive(.subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: [
                Subscription(topicFilter: scenario.filter(s), qos: scenario.qos)])), from: id, now: .now(),
                output: &output)
        }
        if scenario.extraSubscriptions > 0 {
            // Mixed shapes, none matching the publishers' topics (as in `scripts/bench broker`).
            let shapes: [(Int) -> String] = [{ "bench/\($0)/in/+" }, { "bench/+/in/x\($0)" }, { "s\($0)/#" },
                                             { "+/s\($0)/in/#" }, { "s/\($0)/+/t" }, { "bench/x\($0)" }]
            let id = connect(broker, nextConnection(), "subscriptions", output: &output)
            for start in stride(from: 0, to: scenario.extraSubscriptions, by: 100) {
                let subscriptions = (start..<min(scenario.extraSubscriptions, start + 100)).map { i in
                    Subscription(topicFilter: shapes[i % shapes.count](i),
                                 qos: .atMostOnce)
                }
                broker.receive(.subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: subscriptions)),
                               from: id, now: .now(), output: &output)
            }
        }
        var publishers: [ConnectionID] = []
        for p in 0..<scenario.publishers {
            publishers.append(connect(broker, nextConnection(), "publisher-\(p)", output: &output))
        }
        self.publishers = publishers
        let payload = ByteBuffer(repeating: 0x61, count: 64)
        let topics = scenario.topicsPerPublisher
        packets = (0..<topics).flatMap { k in
            (0..<scenario.publishers).map { p in
                let topic = topics == 1 ? "bench/in/\(p)" : "bench/in/\(p)-\(k)"
                return Packet.publish(PublishPacket(topic: topic, payload: payload, qos: scenario.qos,
                                                    packetIdentifier: scenario.qos == .atMostOnce ? nil : 1))
            }
        }
    }

    /// Publishes `count` messages; subscribers acknowledge at once, so the window never fills and nothing is
    /// queued.
    @inline(never)
    mutating func publish(count: Int) {
        for _ in 0..<count {
            broker.receive(packets[next], from: publishers[next % publishers.count], now: .now(), output: &output)
            next = next + 1 == packets.count ? 0 : next + 1
            for (connection, id) in sink.acknowledgements {
                broker.receive(.puback(PublishAckPacket(packetIdentifier: id)), from: connection, now: .now(),
                               output: &output)
            }
            sink.acknowledgements.removeAll(keepingCapacity: true)
        }
    }

    /// The same, under the name `scripts/bench instructions` has callgrind count: the warm-up before it is not
    /// counted.
    @inline(never)
    mutating func publishCounted(count: Int) {
        publish(count: count)
    }
}

/// The median over `rounds` of how many things `batchOfWork` does per second: each round calls it (it returns how
/// many it did) until `minimumSeconds` have passed.
func medianRate(_ batchOfWork: () -> Int) -> Double {
    let clock = ContinuousClock()
    var rates: [Double] = []
    for _ in 0..<rounds {
        var done = 0
        let start = clock.now
        var elapsed = Duration.zero
        repeat {
            done += batchOfWork()
            elapsed = clock.now - start
        } while elapsed < .milliseconds(Int64(minimumSeconds * 1000))
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        rates.append(Double(done) / seconds)
    }
    return rates.sorted()[rounds / 2]
}

/// Deliveries per second (the median of `rounds`).
func measure(_ scenario: Scenario) -> Double {
    var setup = ScenarioSetup(scenario)
    return medianRate {
        let before = setup.sink.published
        setup.publish(count: batch)
        return setup.sink.published - before
    }
}

/// Publishes `messages` messages after a warm-up of `batch`, the former through `publishCounted`; returns the
/// deliveries they made. For `scripts/bench instructions`, which runs this under callgrind.
func countDeliveries(_ scenario: Scenario, messages: Int) -> Int {
    var setup = ScenarioSetup(scenario)
    setup.publish(count: batch)
    setup.sink.published = 0
    setup.publishCounted(count: messages)
    return setup.sink.published
}

/// Retained messages per second delivered to a subscriber on `#` over `count` topics of one level, in the
/// batches the server asks for (`continueRetained`). Guards the paced delivery's cursor, which once copied its
/// whole stack per batch (quadratic under a flat level).
func measureRetained(count: Int) -> Double {
    let broker = Broker()
    let sink = Sink()
    var output = CountingOutput(sink: sink)
    let publisher = connect(broker, 1, "retainer", output: &output)
    let payload = ByteBuffer(repeating: 0x61, count: 20)
    for i in 0..<count {
        broker.receive(.publish(PublishPacket(topic: "retained/\(i)", payload: payload, retain: true)),
                       from: publisher, now: .now(), output: &output)
    }
    var rates: [Double] = []
    for round in 0..<rounds {
        let subscriber = connect(broker, UInt64(2 + round), "retained-subscriber", output: &output)
        sink.published = 0
        let start = ContinuousClock.now
        broker.receive(.subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: [
            Subscription(topicFilter: "#", qos: .atMostOnce)])), from: subscriber, now: .now(), output: &output)
        while broker.continueRetained(to: subscriber, now: .now(), output: &output) {}
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        rates.append(Double(sink.published) / seconds)
    }
    return rates.sorted()[rounds / 2]
}

/// A broker with `live` connections, where each step closes the oldest with a DISCONNECT and opens one more
/// (CONNECT, clean start, taking the client identifier just let go). Guards the removal of a connection from the
/// broker's tables, which sequential identifiers under an identity hash made cost a walk over the neighbouring
/// buckets (thousands of instructions each with 10,000 connections, growing with their number).
struct ConnectionChurn {
    static let name = "connections opened and closed, 10,000 others connected"
    let broker = Broker()
    var output = CountingOutput(sink: Sink())
    let clientIDs: [String]
    var next: UInt64 = 1

    init(live: Int) {
        clientIDs = (0..<live).map { "client-\($0)" }
        for _ in 0..<live { open() }
    }

    private mutating func open() {
        _ = connect(broker, next, clientIDs[Int(next % UInt64(clientIDs.count))], output: &output)
        next += 1
    }

    @inline(never)
    mutating func step(count: Int) {
        for _ in 0..<count {
            let oldest = ConnectionID(next - UInt64(clientIDs.count))
            broker.receive(.disconnect(DisconnectPacket()), from: oldest, now: .now(), output: &output)
            broker.connectionClosed(oldest, now: .now(), output: &output)
            open()
        }
    }

    /// The same, for callgrind (see `ScenarioSetup.publishCounted`).
    @inline(never)
    mutating func stepCounted(count: Int) {
        step(count: count)
    }
}

/// Connections opened and closed per second, 10,000 others connected (the median of `rounds`).
func measureConnections() -> Double {
    var churn = ConnectionChurn(live: 10_000)
    return medianRate {
        churn.step(count: batch)
        return batch
    }
}

// `--messages N [SCENARIO]`: each scenario publishes N messages (fan-out: N / 100) once, for callgrind; the
// connections' churn makes N / 10 steps.
if arguments.first == "--messages" {
    let count = arguments.dropFirst().first.flatMap(Int.init) ?? 20_000
    let only = arguments.dropFirst(2).first
    // A name given whole selects that scenario alone (one name can be part of another's).
    let exact = scenarios.filter { $0.name == only }
    print("| scenario | messages | deliveries |")
    print("|---|---:|---:|")
    for scenario in exact.isEmpty ? scenarios : exact where only == nil || scenario.name.contains(only!) {
        let messages = max(1, count / scenario.subscribers)
        print("| \(scenario.name) | \(messages) | \(countDeliveries(scenario, messages: messages)) |")
    }
    if only == nil || ConnectionChurn.name.contains(only!) {
        var churn = ConnectionChurn(live: 10_000)
        churn.step(count: batch)
        churn.stepCounted(count: count / 10)
        print("| \(ConnectionChurn.name) | \(count / 10) | 0 |")
    }
} else {
    runRates()
}

/// The rates of every scenario (or those whose name contains the second argument), as a Markdown table.
@MainActor
func runRates() {
    print("| scenario | deliveries/s |")
    print("|---|---:|")
    let only = arguments.dropFirst().first
    for scenario in scenarios where only == nil || scenario.name.contains(only!) {
        let rate = measure(scenario)
        print("| \(scenario.name) | \(Int(rate.rounded())) |")
    }
    let retainedScenario = "retained on `#`, 200,000 topics of one level"
    if only == nil || retainedScenario.contains(only!) {
        print("| \(retainedScenario) | \(Int(measureRetained(count: 200_000).rounded())) |")
    }
    if only == nil || ConnectionChurn.name.contains(only!) {
        // Steps (one connection closed, one opened) per second in the deliveries' column.
        print("| \(ConnectionChurn.name), steps | \(Int(measureConnections().rounded())) |")
    }
}
