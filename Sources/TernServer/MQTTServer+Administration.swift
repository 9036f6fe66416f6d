import MQTTCore
import NIOCore
import TernBroker

/// What the HTTP side (metrics, admin API) reads from and does to the broker. Each call hops onto the broker's
/// event loop, does its work there, and returns a copy; nothing touches the broker from another thread.
extension MQTTServer {
    /// Counters and totals for one metrics scrape.
    public struct MetricsSnapshot: Sendable {
        public var statistics: BrokerStatistics
        public var wire: WireTraffic
        public var gauges: BrokerGauges
        /// Connected clients by the listener port they came through and their MQTT version.
        public var connections: [ConnectionKey: Int]
        /// CONNECTs refused by a listener's authenticator.
        public var authenticationFailures: Int
    }

    /// A listener (by port) and an MQTT version ("3.1", "3.1.1", "5.0").
    public struct ConnectionKey: Sendable, Hashable {
        public var listenerPort: Int
        public var protocolVersion: String
    }

    public func metricsSnapshot() async throws -> MetricsSnapshot {
        try await onBrokerLoop { state in
            var connections: [ConnectionKey: Int] = [:]
            for (id, version) in state.broker.connectedProtocolVersions() {
                let key = ConnectionKey(listenerPort: state.table.localPort(of: id) ?? 0, protocolVersion: version)
                connections[key, default: 0] += 1
            }
            return MetricsSnapshot(statistics: state.broker.statistics, wire: state.table.traffic,
                                   gauges: state.broker.gauges(), connections: connections,
                                   authenticationFailures: state.table.authenticationFailures)
        }
    }

    /// Whether every listener is bound and open.
    public var listenersAreUp: Bool {
        let channels = self.channels.withLockedValue { $0 }
        return !channels.isEmpty && channels.allSatisfy(\.isActive)
    }

    /// Whether the store accepts commits (true without a store); false while commits fail, e.g. on a full disk.
    public func storeAcceptsCommits() async -> Bool {
        (try? await onBrokerLoop { state in state.broker.acceptsDurableMessages }) ?? false
    }

    public func sessionSummaries() async throws -> [SessionSummary] {
        try await onBrokerLoop { state in state.broker.sessionSummaries(now: .now()).map { state.withAddress($0) } }
    }

    public func sessionSummary(clientID: String) async throws -> SessionSummary? {
        try await onBrokerLoop { state in state.broker.sessionSummary(clientID, now: .now()).map(state.withAddress) }
    }

    /// Disconnects a connected client (MQTT 5: DISCONNECT 0x98); false when it is not connected.
    public func disconnect(clientID: String) async throws -> Bool {
        try await onBrokerLoop { state in
            var output = state.table.output
            return state.broker.disconnect(clientID: clientID, now: .now(), output: &output)
        }
    }

    /// Discards a session, disconnecting its client first; false when there is none.
    public func deleteSession(clientID: String) async throws -> Bool {
        try await onBrokerLoop { state in
            var output = state.table.output
            return state.broker.deleteSession(clientID: clientID, now: .now(), output: &output)
        }
    }

    public func retainedSummaries(matching filter: String, limit: Int) async throws -> [RetainedSummary] {
        try await onBrokerLoop { $0.broker.retainedSummaries(matching: filter, limit: limit) }
    }

    public func retainedSummary(topic: String) async throws -> RetainedSummary? {
        try await onBrokerLoop { $0.broker.retainedSummary(topic: topic) }
    }

    public func deleteRetained(topic: String) async throws -> Bool {
        try await onBrokerLoop { $0.broker.deleteRetained(topic: topic) }
    }

    /// Publishes a message as the broker; returns how many clients it went to.
    public func publish(_ message: ApplicationMessage) async throws -> Int {
        try await onBrokerLoop { state in
            var output = state.table.output
            return state.broker.publishAsBroker(message, now: .now(), output: &output)
        }
    }

    /// Publishes a log line as the broker, at QoS 2 and not retained (`log_dest topic`: Mosquitto's
    /// `$SYS/broker/log/...` topics). Callable from any thread, the broker's loop included: the message is
    /// published in a task of its own, never inside whatever logged the line.
    public func publishLogLine(_ line: String, topic: String) {
        let state = self.state
        loop.execute {
            let value = state.value
            var output = value.table.output
            let message = ApplicationMessage(topic: topic, payload: ByteBuffer(string: line), qos: .exactlyOnce,
                                             retain: false)
            _ = value.broker.publishAsBroker(message, now: .now(), output: &output)
            value.table.flushAll()
        }
    }

    /// Runs `body` on the broker's loop and flushes what it wrote.
    private func onBrokerLoop<Result: Sendable>(_ body: @escaping @Sendable (State) -> Result) async throws
        -> Result
    {
        let state = self.state
        return try await loop.submit {
            let value = state.value
            let result = body(value)
            value.table.flushAll()
            return result
        }.get()
    }
}

extension MQTTServer.State {
    /// The summary with the client's address, which the table knows and the broker does not.
    func withAddress(_ summary: SessionSummary) -> SessionSummary {
        var summary = summary
        summary.remoteAddress = summary.connection.flatMap(table.remoteAddress)
        return summary
    }
}
