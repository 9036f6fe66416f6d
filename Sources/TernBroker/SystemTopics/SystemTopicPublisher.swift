import MQTTCore
import NIOCore

/// Mosquitto's `$SYS/broker/...` statistics topics, with Mosquitto 2.0's names and meanings (mosquitto(8)),
/// published as retained QoS 0 messages every `sys_interval` seconds; a value is published again only when it
/// changed (the uptime always does). Subscribers receive them subject to their access rules like any message.
///
/// The server keeps one publisher next to the broker, on the broker's event loop, and calls `update` from its
/// timer; `Broker.publishSystemTopics` does the publishing.
public struct SystemTopicPublisher: Sendable {
    /// Seconds between updates (never 0: a 0 `sys_interval` means no publisher).
    public let interval: Int64
    /// The value of `$SYS/broker/version`.
    public let version: String
    let startedAt: NIODeadline
    var nextUpdate: NIODeadline
    var lastUpdate: NIODeadline?
    /// The payload last published per topic.
    var published: [String: String] = [:]
    var maximumClients = 0
    var loads: [String: LoadAverage] = [:]

    /// - Parameters:
    ///   - interval: seconds between updates (`sys_interval`), at least 1.
    ///   - version: the text of `$SYS/broker/version`, such as "tern version 0.1.0".
    ///   - now: the broker's start; the first update is due at once.
    public init(interval: Int, version: String, now: NIODeadline) {
        self.interval = Int64(max(1, interval))
        self.version = version
        self.startedAt = now
        self.nextUpdate = now
    }

    /// Whether an update is due at `now`.
    public func isDue(at now: NIODeadline) -> Bool { now >= nextUpdate }

    /// The topics and payloads of one update, changed ones only, and records them as published.
    mutating func update(_ values: SystemTopicValues, now: NIODeadline) -> [(topic: String, payload: String)] {
        let seconds = lastUpdate.map { Double((now - $0).nanoseconds) / 1e9 } ?? 0
        lastUpdate = now
        nextUpdate = now + .seconds(interval)
        maximumClients = max(maximumClients, values.connectedClients)

        var current: [(String, String)] = [
            ("version", version),
            ("uptime", "\((now - startedAt).nanoseconds / 1_000_000_000) seconds"),
            ("clients/connected", "\(values.connectedClients)"),
            ("clients/disconnected", "\(values.disconnectedClients)"),
            ("clients/total", "\(values.connectedClients + values.disconnectedClients)"),
            ("clients/maximum", "\(maximumClients)"),
            ("clients/expired", "\(values.statistics.sessionsExpired)"),
            // Deprecated in Mosquitto, still published by it.
            ("clients/active", "\(values.connectedClients)"),
            ("clients/inactive", "\(values.disconnectedClients)"),
            ("messages/received", "\(values.wire.packetsReceived)"),
            ("messages/sent", "\(values.wire.packetsSent)"),
            ("messages/stored", "\(values.storedMessages)"),
            ("store/messages/count", "\(values.storedMessages)"),
            ("store/messages/bytes", "\(values.storedBytes)"),
            ("bytes/received", "\(values.wire.bytesReceived)"),
            ("bytes/sent", "\(values.wire.bytesSent)"),
            ("publish/messages/received", "\(values.statistics.messagesReceived)"),
            ("publish/messages/sent", "\(values.statistics.messagesSent)"),
            ("publish/messages/dropped", "\(values.statistics.messagesDropped)"),
            ("publish/bytes/received", "\(values.statistics.received.totalBytes)"),
            ("publish/bytes/sent", "\(values.statistics.sent.totalBytes)"),
            ("retained messages/count", "\(values.retainedMessages)"),
            ("subscriptions/count", "\(values.subscriptions)"),
            ("shared_subscriptions/count", "\(values.sharedSubscriptions)"),
        ]
        let counters: [(String, Int)] = [
            ("messages/received", values.wire.packetsReceived),
            ("messages/sent", values.wire.packetsSent),
            ("bytes/received", values.wire.bytesReceived),
            ("bytes/sent", values.wire.bytesSent),
            ("publish/received", values.statistics.messagesReceived),
            ("publish/sent", values.statistics.messagesSent),
            ("publish/dropped", values.statistics.messagesDropped),
            ("connections", values.statistics.connectionsAccepted),
            ("sockets", values.wire.socketsOpened),
        ]
        for (name, total) in counters {
            var load = loads[name, default: LoadAverage()]
            load.update(total: total, seconds: seconds)
            loads[name] = load
            current.append(("load/\(name)/1min", Self.twoDecimals(load.oneMinute)))
            current.append(("load/\(name)/5min", Self.twoDecimals(load.fiveMinutes)))
            current.append(("load/\(name)/15min", Self.twoDecimals(load.fifteenMinutes)))
        }
        var changed: [(topic: String, payload: String)] = []
        for (name, payload) in current where published[name] != payload {
            published[name] = payload
            changed.append(("$SYS/broker/" + name, payload))
        }
        return changed
    }

    /// `12.34`, as Mosquitto prints its load averages (`%.2f`).
    static func twoDecimals(_ value: Double) -> String {
        let hundredths = Int((max(0, value) * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}

/// The broker's state that one `$SYS` update reports.
struct SystemTopicValues {
    var statistics: BrokerStatistics
    var wire: WireTraffic
    var connectedClients: Int
    var disconnectedClients: Int
    var storedMessages: Int
    var storedBytes: Int
    var retainedMessages: Int
    var subscriptions: Int
    var sharedSubscriptions: Int
}

extension Broker {
    /// Publishes the `$SYS/broker/...` values that changed since the last update, as retained QoS 0 messages
    /// from the broker itself, and schedules the next update. `wire` is what the server counted on the network.
    public func publishSystemTopics<Output: BrokerOutput>(_ publisher: inout SystemTopicPublisher,
                                                          wire: WireTraffic, now: NIODeadline,
                                                          output: inout Output)
    {
        var disconnected = 0
        var stored = 0
        var storedBytes = 0
        var shared = 0
        for session in sessions.values {
            if session.connection == nil { disconnected += 1 }
            stored += session.queuedCount + session.inflight.count
            storedBytes += session.queuedBytes + session.inflight.payloadBytes
            for filter in session.subscriptions.keys where filter.utf8.starts(with: "$share/".utf8) { shared += 1 }
        }
        // A read of every retained message, no allocation per message: acceptable every `sys_interval` seconds.
        retainedMessages.forEach { _, message in
            storedBytes += message.payloadSize
        }
        let values = SystemTopicValues(
            statistics: statistics, wire: wire, connectedClients: connectedClientCount,
            disconnectedClients: disconnected, storedMessages: stored + retainedMessages.count,
            storedBytes: storedBytes, retainedMessages: retainedMessages.count, subscriptions: subscriptionCount,
            sharedSubscriptions: shared)
        for (topic, payload) in publisher.update(values, now: now) {
            var buffer = ByteBuffer()
            buffer.writeString(payload)
            route(ApplicationMessage(topic: topic, payload: buffer, qos: .atMostOnce, retain: true), now: now,
                  output: &output)
        }
    }
}
