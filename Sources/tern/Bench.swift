import ArgumentParser
import Foundation
import MQTTClient
import MQTTCore
import NIOCore
import NIOPosix

/// `tern bench`: a load generator on MQTTCore's codec and NIO (one lean handler per connection, one event loop).
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a broker: throughput, latency percentiles, delivery checks, broker CPU and memory.",
        discussion: """
            Scenarios: fan-in (P publishers on distinct topics, one subscriber on a wildcard), fan-out (one \
            publisher, C subscribers), pairs (N publisher/subscriber pairs), latency (one pair at a fixed --rate; \
            latency counts from the intended send time, so a stalled broker cannot hide its delay), connections \
            (connect --connections idle clients: time to connect, broker memory and CPU per connection). Every payload \
            carries a sequence number: losses, duplicates and reordering are counted exactly.
            """)

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case fanIn = "fan-in", fanOut = "fan-out", pairs, latency, connections
    }

    enum Transport: String, ExpressibleByArgument, CaseIterable {
        case tcp, tls, ws, wss

        var clientTransport: MQTTClientConfiguration.Transport {
            switch self {
            case .tcp: .tcp
            case .tls: .tls
            case .ws: .webSocket
            case .wss: .secureWebSocket
            }
        }
    }

    @Option(name: .long, help: "Broker host.") var host = "127.0.0.1"
    @Option(name: [.short, .long], help: "Broker port (default: the transport's, 1883 for tcp).") var port: Int?
    @Option(name: .long, help: "tcp, tls, ws (WebSocket) or wss (WebSocket over TLS).") var transport: Transport = .tcp
    @Option(name: .long, help: "HTTP path of the WebSocket endpoint.") var wsPath = "/mqtt"
    @Option(name: .long, help: "CA certificates (PEM) to verify the broker with; implies TLS.") var cafile: String?
    @Option(name: .long, help: "Client certificate (PEM) for mutual TLS; needs --key.") var cert: String?
    @Option(name: .long, help: "Private key (PEM) of --cert.") var key: String?
    @Flag(name: .long, help: "Do not check the broker certificate's host name.") var insecure = false
    @Option(name: .long, help: "fan-in, fan-out, pairs, latency or connections.") var scenario: Scenario = .fanIn
    @Option(name: .long, help: "Publishers (fan-in) or pairs (pairs).") var publishers = 4
    @Option(name: .long, help: ArgumentHelp(
        "Topics per publisher (fan-in): each publisher sends to its topics in turn, so that a broker's routing "
            + "meets many distinct topics rather than the same one again.")) var topics = 1
    @Option(name: .long, help: "Subscribers (fan-out).") var subscribers = 4
    @Option(name: [.short, .long], help: "QoS of publishes and subscriptions.") var qos = 0
    @Option(name: .long, help: "Payload size in bytes (at least 20).") var size = 64
    @Option(name: [.customShort("V"), .long], help: "MQTT version: 5 or 311.") var protocolVersion = "5"
    @Option(name: .long, help: "Seconds of load.") var duration = 5.0
    @Option(name: .long, help: "Messages per publisher (instead of running for the whole duration).") var count: Int?
    @Option(name: .long, help: "Messages per second in total (latency scenario; default 1000).") var rate: Double?
    @Option(name: .long, help: "Unacknowledged QoS 1/2 messages per publisher.") var window = 64
    @Option(name: .long, help: ArgumentHelp(
        "Session expiry interval (seconds) of the subscribers: their sessions persist, so a broker with a durable "
            + "store keeps what it queues for them (3.1.1: clean session off).")) var sessionExpiry: UInt32 = 0
    @Option(name: .long, help: "Idle connections to open (connections scenario).") var connections = 1000
    @Option(name: .long, help: "Seconds to wait after the load for messages still on their way.") var drain = 3.0
    @Option(name: .long, help: "The broker's process id, to report its CPU time and memory.") var brokerPid: Int32?
    @Flag(name: .long, help: "Print one JSON line instead of the table.") var json = false
    @Flag(name: .long, help: "No progress line.") var quiet = false

    func validate() throws {
        guard (cert == nil) == (key == nil) else { throw ValidationError("--cert and --key go together") }
        guard (0...2).contains(qos) else { throw ValidationError("--qos must be 0, 1 or 2") }
        guard size >= BenchState.headerSize else { throw ValidationError("--size must be at least 20") }
        guard topics >= 1 else { throw ValidationError("--topics must be at least 1") }
        guard ["5", "311", "mqttv5", "mqttv311"].contains(protocolVersion) else {
            throw ValidationError("--protocol-version must be 5 or 311")
        }
    }

    func run() async throws {
        // Publishers on one loop, subscribers on the other (see BenchState); `scripts/bench` pins both to one CPU.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loop = group.next()
        let subscriberLoop = group.next()
        let version: ProtocolVersion = protocolVersion.hasSuffix("5") ? .v5 : .v3_1_1
        let transportOptions = TransportOptions(
            host: host, port: port, transport: transport.clientTransport, webSocketPath: wsPath, caFile: cafile,
            certFile: cert, keyFile: key, insecure: insecure)
        let configuration = try transportOptions.configuration(protocolVersion: version)
        let options = BenchState.Options(version: version, qos: QoS(rawValue: UInt8(qos))!, payloadSize: size,
                                         count: count, window: window, sessionExpiry: sessionExpiry)
        let before = BrokerUsage(pid: brokerPid)
        var result: [String: Double] = ["qos": Double(qos), "size": Double(size)]
        if scenario == .connections {
            // Each connection is a file descriptor here too.
            _ = OpenFileLimit.raiseToHardLimit()
            result.merge(try await storm(loop: loop, configuration: configuration, options: options, before: before)) { $1 }
        } else {
            result.merge(try await load(loop: loop, subscriberLoop: subscriberLoop, configuration: configuration,
                                        options: options)) { $1 }
        }
        if let before = before, let after = BrokerUsage(pid: brokerPid) {
            result["broker_cpu_s"] = round3(after.cpuSeconds - before.cpuSeconds)
            result["broker_rss_mb"] = round3(Double(after.rssKB) / 1024)
        }
        try await group.shutdownGracefully()
        report(result, labels: ["scenario": scenario.rawValue, "version": version.description])
    }

    // MARK: Message scenarios

    private func load(loop: any EventLoop, subscriberLoop: any EventLoop, configuration: MQTTClientConfiguration,
                      options: BenchState.Options) async throws -> [String: Double]
    {
        let (publisherTopics, subscriberFilters, expected) = layout()
        let state = try await loop.submit {
            BenchState(options: options, publishers: publisherTopics.count, subscribers: subscriberFilters.count)
        }.get()
        let subs = try await connect(subscriberFilters.enumerated().map { .subscriber(index: $0, filter: $1) },
                                     loop: subscriberLoop, configuration: configuration, state: state)
        let pubs = try await connect(publisherTopics.enumerated().map { .publisher(index: $0, topics: $1) },
                                     loop: loop, configuration: configuration, state: state)
        let perPublisherRate: Double? = scenario == .latency ? (rate ?? 1000) / Double(pubs.count) : nil
        let start = Date()
        let startUptime = NIODeadline.now().uptimeNanoseconds
        try await loop.submit {
            state.running = true
            for publisher in pubs { publisher.startPublishing(rate: perPublisherRate) }
        }.get()
        var lastSent: UInt64 = 0
        var lastShown = start
        // A run of a given count ends when its last message is sent, checked every 20 ms: checked once a second, a
        // run shorter than a second took a second (200,000 QoS 2 messages were 200,000/s whatever the broker).
        let checkInterval = count == nil ? 1.0 : 0.02
        while Date().timeIntervalSince(start) < duration {
            try await Task.sleep(for: .seconds(min(checkInterval, duration - Date().timeIntervalSince(start))))
            let sent = try await loop.submit { state.sentCount }.get()
            if !quiet && !json && Date().timeIntervalSince(lastShown) >= 1 {
                let received = try await subscriberLoop.submit { state.receivedCount }.get()
                let elapsed = Date().timeIntervalSince(start)
                FileHandle.standardError.write(Data(String(
                    format: "\r[%4.1fs] sent %llu (%.0f/s)  received %llu      ", elapsed, sent,
                    Double(sent - lastSent) / Date().timeIntervalSince(lastShown), received).utf8))
                lastSent = sent
                lastShown = Date()
            }
            if let count, sent >= UInt64(count * pubs.count) { break }
        }
        let elapsed = Date().timeIntervalSince(start)
        try await loop.submit { state.running = false }.get()
        // Let what is in flight arrive, with a deadline: only what has not arrived by then counts as lost.
        let deadline = Date().addingTimeInterval(drain)
        while Date() < deadline {
            let done = try await subscriberLoop.submit { () -> Bool in
                let wanted = Self.expectedDeliveries(state: state, expected: expected)
                return state.checks.flatMap { $0 }.reduce(0) { $0 + $1.distinct } >= wanted
            }.get()
            if done { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        if !quiet && !json { FileHandle.standardError.write(Data("\n".utf8)) }
        try await loop.submit { for connection in pubs { connection.disconnect() } }.get()
        return try await subscriberLoop.submit { () -> [String: Double] in
            for connection in subs { connection.disconnect() }
            let wanted = Self.expectedDeliveries(state: state, expected: expected)
            let checks = state.checks.flatMap { $0 }
            let distinct = checks.reduce(0) { $0 + $1.distinct }
            let h = state.histogram
            return [
                "publishers": Double(pubs.count), "subscribers": Double(subs.count), "seconds": round3(elapsed),
                "sent": Double(state.sentCount), "received": Double(state.receivedCount),
                "sent_per_s": (Double(state.sentCount) / elapsed).rounded(),
                // Messages still queued when the load stops arrive during the drain: counted over the time
                // they took, not over the load's duration alone.
                "received_per_s": (Double(state.receivedCount)
                    / max(elapsed, Double(state.lastReceived &- startUptime) / 1e9)).rounded(),
                "lost": Double(max(0, Int(wanted) - distinct)),
                "duplicates": Double(checks.reduce(0) { $0 + $1.duplicates }),
                "reordered": Double(checks.reduce(0) { $0 + $1.reordered }),
                "latency_p50_us": Double(h.valueAtPercentile(50)), "latency_p90_us": Double(h.valueAtPercentile(90)),
                "latency_p99_us": Double(h.valueAtPercentile(99)),
                "latency_p99.9_us": Double(h.valueAtPercentile(99.9)), "latency_max_us": Double(h.max),
            ]
        }.get()
    }

    /// Topics of each publisher, filters per subscriber, and which subscriber receives which publisher.
    private func layout() -> ([[String]], [String], @Sendable (Int, Int) -> Bool) {
        let prefix = "bench/\(UInt32.random(in: 0...UInt32.max))"
        switch scenario {
        case .fanIn:
            return ((0..<publishers).map { p in
                topics == 1 ? ["\(prefix)/in/\(p)"] : (0..<topics).map { "\(prefix)/in/\(p)-\($0)" }
            }, ["\(prefix)/in/+"], { _, _ in true })
        case .fanOut:
            return ([["\(prefix)/out"]], Array(repeating: "\(prefix)/out", count: subscribers), { _, _ in true })
        case .pairs:
            return ((0..<publishers).map { ["\(prefix)/pair/\($0)"] }, (0..<publishers).map { "\(prefix)/pair/\($0)" },
                    { $0 == $1 })
        case .latency, .connections:
            return ([["\(prefix)/latency"]], ["\(prefix)/latency"], { _, _ in true })
        }
    }

    private static func expectedDeliveries(state: BenchState, expected: (Int, Int) -> Bool) -> Int {
        var total = 0
        for s in state.checks.indices {
            for p in state.sentPerPublisher.indices where expected(s, p) { total += Int(state.sentPerPublisher[p]) }
        }
        return total
    }

    private func connect(_ roles: [BenchConnection.Role], loop: any EventLoop,
                         configuration: MQTTClientConfiguration, state: BenchState) async throws -> [BenchConnection]
    {
        var connections: [BenchConnection] = []
        for role in roles {
            let handler = try await loop.submit { BenchConnection(role: role, state: state, eventLoop: loop) }.get()
            do {
                _ = try await ClientBootstrap(group: loop)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try MQTTChannelPipeline.configure(channel, configuration: configuration, handler: handler,
                                                              upgradeFailed: { handler.failed($0) })
                        }
                    }
                    .connect(host: configuration.host, port: configuration.port).get()
            } catch {
                handler.failed(error)
                throw BenchError("cannot connect to \(configuration.host):\(configuration.port): \(error)")
            }
            try await handler.ready.futureResult.get()
            connections.append(handler)
        }
        return connections
    }

    // MARK: Connection storm

    private func storm(loop: any EventLoop, configuration: MQTTClientConfiguration, options: BenchState.Options,
                       before: BrokerUsage?) async throws -> [String: Double]
    {
        let state = try await loop.submit { BenchState(options: options, publishers: 0, subscribers: 0) }.get()
        let start = Date()
        var open: [BenchConnection] = []
        var next = 0
        while next < connections {
            let batch = min(100, connections - next)
            try await withThrowingTaskGroup(of: BenchConnection.self) { group in
                for _ in 0..<batch {
                    group.addTask {
                        try await connect([.idle], loop: loop, configuration: configuration, state: state)[0]
                    }
                }
                for try await connection in group { open.append(connection) }
            }
            next += batch
            if !quiet && !json {
                FileHandle.standardError.write(Data("\r\(open.count) connections      ".utf8))
            }
        }
        let seconds = Date().timeIntervalSince(start)
        if !quiet && !json { FileHandle.standardError.write(Data("\n".utf8)) }
        let during = BrokerUsage(pid: brokerPid)
        let opened = open
        try await loop.submit { for connection in opened { connection.disconnect() } }.get()
        var result: [String: Double] = [
            "connections": Double(open.count), "seconds": round3(seconds),
            "connections_per_s": (Double(open.count) / seconds).rounded(),
        ]
        if let before, let during {
            result["broker_kb_per_connection"] = round3(Double(during.rssKB - before.rssKB) / Double(max(1, open.count)))
            // CPU while connecting only (the disconnects above are not in it); /proc counts in clock ticks.
            result["broker_cpu_us_per_connection"] =
                (1e6 * (during.cpuSeconds - before.cpuSeconds) / Double(max(1, open.count))).rounded()
        }
        return result
    }

    // MARK: Output

    private func report(_ result: [String: Double], labels: [String: String]) {
        func text(_ value: Double) -> String {
            value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        }
        if json {
            let fields = labels.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\"\($0.value)\"" }
                + result.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\(text($0.value))" }
            print("{" + fields.joined(separator: ",") + "}")
            return
        }
        let rows = labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            + result.sorted { $0.key < $1.key }.map { ($0.key, text($0.value)) }
        let width = rows.map(\.0.count).max() ?? 0
        for (key, value) in rows {
            print(key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
    }
}

private func round3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

/// CPU time and resident memory of a process, from /proc.
struct BrokerUsage {
    var cpuSeconds: Double
    var rssKB: Int

    init?(pid: Int32?) {
        guard let pid,
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        cpuSeconds = (user + system) / ticks
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        rssKB = line.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? 0
    }
}
