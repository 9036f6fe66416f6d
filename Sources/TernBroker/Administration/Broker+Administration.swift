import MQTTCore
import NIOCore

/// What the admin API reads and does. Like every entry point, these run on the broker's event loop.
extension Broker {
    /// Every session, connected or not, sorted by client identifier.
    public func sessionSummaries(now: NIODeadline) -> [SessionSummary] {
        sessions.keys.sorted().compactMap { sessionSummary($0.string, now: now) }
    }

    /// One session, or nil when there is none for `clientID`.
    public func sessionSummary(_ clientID: String, now: NIODeadline) -> SessionSummary? {
        guard let session = sessions[ClientIdentifier(clientID)] else { return nil }
        let connection = session.connection.flatMap { connections[$0] }
        let subscriptions = subscriptionIndex.subscriptions(of: session.clientID).map { entry in
            SessionSummary.Subscription(
                topicFilter: entry.shareGroup.map { "$share/\($0)/\(entry.filter)" } ?? entry.filter,
                qos: Int(entry.options.qos.rawValue), subscriptionIdentifier: entry.identifier)
        }.sorted { $0.topicFilter < $1.topicFilter }
        return SessionSummary(
            clientID: clientID, connected: session.connection != nil, connection: session.connection,
            remoteAddress: nil,
            protocolVersion: Self.versionName(session.protocolVersion), username: connection?.username,
            expiryInterval: session.expiryInterval == UInt32.max ? nil : session.expiryInterval,
            expiresIn: session.expiresAt.map { max(0, ($0 - now).nanoseconds / 1_000_000_000) },
            subscriptions: subscriptions, inflight: session.inflight.count, queued: session.queuedCount,
            dropped: session.droppedMessages)
    }

    /// Totals for a metrics scrape.
    public func gauges() -> BrokerGauges {
        var gauges = BrokerGauges()
        gauges.connectedClients = connectedClientCount
        gauges.sessions = sessions.count
        gauges.subscriptions = subscriptionCount
        gauges.retainedMessages = retainedMessages.count
        for session in sessions.values {
            gauges.inflightMessages += session.inflight.count
            gauges.queuedMessages += session.queuedCount
            gauges.queuedMessagesInStoreOnly += session.queuedInStoreOnly
        }
        return gauges
    }

    /// Retained messages whose topic matches `filter` (`#` does not match `$SYS` topics [MQTT-4.7.2-1]), sorted
    /// by topic, at most `limit`.
    public func retainedSummaries(matching filter: String, limit: Int) -> [RetainedSummary] {
        var found: [RetainedSummary] = []
        retainedMessages.forEachMatch(filter: filter) { topic, message in
            found.append(RetainedSummary(topic: topic, payload: Array(buffer: message.payload),
                                         qos: Int(message.qos.rawValue)))
        }
        found.sort { $0.topic < $1.topic }
        return Array(found.prefix(limit))
    }

    /// The retained message of one topic.
    public func retainedSummary(topic: String) -> RetainedSummary? {
        retainedMessages.value(for: topic).map {
            RetainedSummary(topic: topic, payload: Array(buffer: $0.payload), qos: Int($0.qos.rawValue))
        }
    }

    /// Clears the retained message of `topic`; returns whether there was one.
    public func deleteRetained(topic: String) -> Bool {
        retainedMessages.set(topic, nil) != nil
    }

    /// Closes the connection of `clientID` as the server would for an administrative reason: MQTT 5 clients get
    /// DISCONNECT 0x98 (Administrative action), and the will is published. Returns false when it is not
    /// connected.
    public func disconnect<Output: BrokerOutput>(clientID: String, now: NIODeadline, output: inout Output) -> Bool {
        let id = ClientIdentifier(clientID)
        guard let connection = sessions[id]?.connection else { return false }
        if connections[connection]?.protocolVersion == .v5 {
            output.send(.disconnect(DisconnectPacket(reasonCode: .administrativeAction)), to: connection)
        }
        endConnection(connection, clientID: id, publishWill: true, now: now, output: &output)
        return true
    }

    /// Discards the session of `clientID`, disconnecting its client first if it is connected. Returns false when
    /// there is no such session.
    public func deleteSession<Output: BrokerOutput>(clientID: String, now: NIODeadline, output: inout Output)
        -> Bool
    {
        let id = ClientIdentifier(clientID)
        guard sessions[id] != nil else { return false }
        _ = disconnect(clientID: clientID, now: now, output: &output)
        endSession(id, now: now, output: &output)
        return true
    }

    /// Publishes a message from the broker itself (the admin API), to every matching subscriber that may read
    /// it. Returns the number of clients it went to.
    public func publishAsBroker<Output: BrokerOutput>(_ message: ApplicationMessage, now: NIODeadline,
                                                      output: inout Output) -> Int
    {
        route(message, now: now, output: &output)
    }

    static func versionName(_ version: ProtocolVersion) -> String {
        switch version {
        case .v3_1: "3.1"
        case .v3_1_1: "3.1.1"
        case .v5: "5.0"
        }
    }
}

extension Broker {
    /// The protocol version of every connection that completed CONNECT.
    public func connectedProtocolVersions() -> [(connection: ConnectionID, version: String)] {
        connections.values.compactMap { connection in
            connection.clientID == nil ? nil : (connection.id, Self.versionName(connection.protocolVersion))
        }
    }
}
