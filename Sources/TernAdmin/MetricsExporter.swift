import CoreMetrics
import MQTTCore
import Metrics
import Prometheus
import TernBroker
import TernServer

/// `/metrics`: the broker's counters in Prometheus text format, through swift-metrics objects backed by a
/// swift-prometheus registry.
///
/// The broker counts with plain integers on its event loop; a scrape reads them there in one hop (a
/// `MetricsSnapshot`) and moves the swift-metrics counters on by the difference since the last scrape, so the
/// hot path pays no lock per message.
public actor MetricsExporter {
    public nonisolated let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private var counters: [String: (counter: CoreMetrics.Counter, exported: Int)] = [:]
    private var gauges: [String: CoreMetrics.Gauge] = [:]
    /// Label sets of `tern_connections` set at the last scrape, to zero the ones that are gone.
    private var connectionLabels: Set<String> = []
    private let started = ContinuousClock.now
    /// How long the store takes to commit a batch (recorded by the store through swift-metrics under this label).
    public static let storeCommitLabel = "tern_store_commit_duration_seconds"
    let storeCommit: CoreMetrics.Timer

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[Self.storeCommitLabel] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .seconds(1),
        ]
        self.factory = factory
        storeCommit = withMetricsFactory(factory) { CoreMetrics.Timer(label: Self.storeCommitLabel) }
    }

    /// Makes this exporter's registry the process's swift-metrics backend, so that metrics other code records
    /// (the store's commit latency, Hummingbird's) are exported too. Once per process.
    public nonisolated func bootstrapMetricsSystem() {
        MetricsSystem.bootstrap(factory)
    }

    /// Updates every metric from the broker and returns the exposition text.
    public func scrape(_ snapshot: MQTTServer.MetricsSnapshot, httpAuthenticationFailures: Int) -> String {
        let statistics = snapshot.statistics
        for qos in [QoS.atMostOnce, .atLeastOnce, .exactlyOnce] {
            let labels = [("qos", "\(qos.rawValue)")]
            count("tern_messages_received_total", labels, statistics.received.messages(qos))
            count("tern_messages_sent_total", labels, statistics.sent.messages(qos))
            count("tern_message_bytes_received_total", labels, statistics.received.bytes(qos))
            count("tern_message_bytes_sent_total", labels, statistics.sent.bytes(qos))
        }
        for cause in DropCause.allCases {
            count("tern_messages_dropped_total", [("cause", cause.rawValue)], statistics.drops[cause])
        }
        count("tern_network_bytes_received_total", [], snapshot.wire.bytesReceived)
        count("tern_network_bytes_sent_total", [], snapshot.wire.bytesSent)
        count("tern_packets_received_total", [], snapshot.wire.packetsReceived)
        count("tern_packets_sent_total", [], snapshot.wire.packetsSent)
        count("tern_sockets_opened_total", [], snapshot.wire.socketsOpened)
        count("tern_connections_accepted_total", [], statistics.connectionsAccepted)
        for (reasonCode, total) in statistics.refusals {
            count("tern_connections_refused_total", [("reason", Self.label(reasonCode))], total)
        }
        count("tern_authentication_failures_total", [("listener", "mqtt")], snapshot.authenticationFailures)
        count("tern_authentication_failures_total", [("listener", "http")], httpAuthenticationFailures)
        count("tern_sessions_expired_total", [], statistics.sessionsExpired)
        count("tern_publishers_held_back_total", [], statistics.publishersHeldBack)

        var seen: Set<String> = []
        for (key, value) in snapshot.connections {
            let labels = [("listener", "\(key.listenerPort)"), ("protocol", key.protocolVersion)]
            seen.insert("\(key.listenerPort) \(key.protocolVersion)")
            set("tern_connections", labels, value)
        }
        for gone in connectionLabels.subtracting(seen) {
            let parts = gone.split(separator: " ").map(String.init)
            set("tern_connections", [("listener", parts[0]), ("protocol", parts[1])], 0)
        }
        connectionLabels = seen
        set("tern_clients_connected", [], snapshot.gauges.connectedClients)
        set("tern_sessions", [], snapshot.gauges.sessions)
        set("tern_subscriptions", [], snapshot.gauges.subscriptions)
        set("tern_retained_messages", [], snapshot.gauges.retainedMessages)
        set("tern_inflight_messages", [], snapshot.gauges.inflightMessages)
        set("tern_queued_messages", [], snapshot.gauges.queuedMessages)
        set("tern_queued_messages_in_store_only", [], snapshot.gauges.queuedMessagesInStoreOnly)
        set("tern_uptime_seconds", [], Int((ContinuousClock.now - started).components.seconds))
        return registry.emitToString() + Self.histogramText(
            "tern_delivery_latency_seconds", statistics.deliveryLatency)
    }

    /// A histogram the broker buckets itself (swift-metrics histograms take a lock per observation, which the
    /// hot path must not), in the exposition format.
    static func histogramText(_ name: String, _ histogram: LatencyHistogram) -> String {
        var text = "# TYPE \(name) histogram\n"
        let counts = histogram.cumulativeCounts
        for (index, bound) in LatencyHistogram.bounds.enumerated() {
            text += "\(name)_bucket{le=\"\(Double(bound) / 1e9)\"} \(counts[index])\n"
        }
        text += "\(name)_bucket{le=\"+Inf\"} \(counts.last ?? 0)\n"
        text += "\(name)_sum \(Double(histogram.sumNanoseconds) / 1e9)\n"
        text += "\(name)_count \(histogram.count)\n"
        return text
    }

    /// A refusal's reason as a label value: the reason code's name in snake case (`not_authorized`), or
    /// `closed_without_connack`.
    static func label(_ reasonCode: ReasonCode?) -> String {
        guard let reasonCode else { return "closed_without_connack" }
        return reasonCode.name.lowercased().replacingOccurrences(of: " ", with: "_")
    }

    private func key(_ name: String, _ labels: [(String, String)]) -> String {
        name + labels.map { "\u{0}\($0.0)=\($0.1)" }.joined()
    }

    private func count(_ name: String, _ labels: [(String, String)], _ value: Int) {
        let key = key(name, labels)
        var entry = counters[key] ?? (withMetricsFactory(factory) {
            CoreMetrics.Counter(label: name, dimensions: labels)
        }, 0)
        if value > entry.exported {
            entry.counter.increment(by: Int64(value - entry.exported))
            entry.exported = value
        }
        counters[key] = entry
    }

    private func set(_ name: String, _ labels: [(String, String)], _ value: Int) {
        let key = key(name, labels)
        let gauge = gauges[key] ?? withMetricsFactory(factory) { CoreMetrics.Gauge(label: name, dimensions: labels) }
        gauges[key] = gauge
        gauge.record(value)
    }
}
