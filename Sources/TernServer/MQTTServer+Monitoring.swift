import NIOCore
import TernBroker

extension MQTTServer {
    /// Starts publishing `$SYS/broker/...` every `interval` seconds (`sys_interval`; 0 turns it off), the first
    /// update at the next timer tick.
    public func publishSystemTopics(every interval: Int) async throws {
        let state = self.state
        try await loop.submit {
            state.value.systemTopics = interval > 0
                ? SystemTopicPublisher(interval: interval, version: TernVersion.systemTopicText, now: .now()) : nil
        }.get()
    }
}

extension MQTTServer {
    /// Logs every SUBSCRIBE and UNSUBSCRIBE filter (`log_type subscribe`, `log_type unsubscribe`).
    public func logSubscriptions(subscribe: Bool, unsubscribe: Bool) async throws {
        let state = self.state
        try await loop.submit {
            state.value.table.subscriptionLog = SubscriptionLog(subscribe: subscribe, unsubscribe: unsubscribe)
        }.get()
    }
}

extension MQTTServer.State {
    func publishSystemTopicsIfDue(now: NIODeadline, output: inout ConnectionTable.Output) {
        guard var publisher = systemTopics, publisher.isDue(at: now) else { return }
        broker.publishSystemTopics(&publisher, wire: table.traffic, now: now, output: &output)
        systemTopics = publisher
    }
}
