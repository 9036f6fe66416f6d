import MQTTCore
import NIOCore

/// The limits that protect the broker from hostile or runaway clients (`BrokerSettings`, docs/limits.md): checked
/// at the edges (a connection opening, a CONNECT, a packet arriving, a filter subscribed), so the routing paths
/// stay as they are.
extension Broker {
    /// Whether a connection opened now is over `maximumConnections` or `maximumConnectionRate`; the reason its
    /// CONNECT will be refused with, or nil. Counts the opening against the rate.
    func admissionRefusal(now: NIODeadline) -> ReasonCode? {
        if settings.maximumConnectionRate > 0 {
            if now - connectionRate.windowStart >= .seconds(1) {
                connectionRate = (now, 0)
            }
            connectionRate.count += 1
            if connectionRate.count > settings.maximumConnectionRate { return .connectionRateExceeded }
        }
        if settings.maximumConnections > 0 && connections.count >= settings.maximumConnections {
            return .serverBusy
        }
        return nil
    }

    /// The reason a CONNECT breaks one of the broker's limits, or nil. Checked before the credentials are.
    func connectRefusal(_ connect: ConnectPacket, connection: ClientConnection) -> ReasonCode? {
        if let refusal = connection.admissionRefusal { return refusal }
        if connect.clientIdentifier.utf8.count > settings.maximumClientIDLength { return .clientIdentifierNotValid }
        if exceedsUserPropertyLimit(connect.properties) || exceedsUserPropertyLimit(connect.will?.properties) {
            return .quotaExceeded
        }
        if let will = connect.will, exceedsTopicLimits(will.topic) { return .topicNameInvalid }
        // MQTT 3 has no Server Keep Alive to impose a shorter keep alive: a client asking for more than
        // `max_keepalive` (or for none) is refused, as Mosquitto does.
        if connect.protocolVersion != .v5 && settings.maximumKeepAlive > 0
            && (connect.keepAlive == 0 || connect.keepAlive > settings.maximumKeepAlive)
        {
            return .clientIdentifierNotValid
        }
        return nil
    }

    /// Refuses a CONNECT that broke a limit: CONNACK with the reason (MQTT 3: the closest return code), then
    /// close [MQTT-3.2.2-7].
    func refuseConnect<Output: BrokerOutput>(_ reasonCode: ReasonCode, connection id: ConnectionID,
                                             output: inout Output)
    {
        output.send(.connack(ConnAckPacket(reasonCode: reasonCode)), to: id)
        statistics.recordRefusal(reasonCode)
        closeUnconnected(id, output: &output)
    }

    /// Whether a topic name or filter is longer or deeper than `max_topic_length` and `max_topic_levels` allow.
    /// Inlined up to the level count: a topic of fewer bytes than the level limit cannot have more levels, so
    /// most PUBLISHes stop at two comparisons (the call cost 44 instructions per message).
    @inline(__always)
    func exceedsTopicLimits(_ topic: String) -> Bool {
        let count = topic.utf8.count
        if count > settings.maximumTopicLength { return true }
        guard settings.maximumTopicLevels > 0, count >= settings.maximumTopicLevels else { return false }
        return exceedsTopicLevels(topic)
    }

    private func exceedsTopicLevels(_ topic: String) -> Bool {
        var levels = 1
        for byte in topic.utf8 where byte == UInt8(ascii: "/") {
            levels += 1
            if levels > settings.maximumTopicLevels { return true }
        }
        return false
    }

    /// Whether properties carry more User Properties than `max_user_properties` allows.
    func exceedsUserPropertyLimit(_ properties: Properties?) -> Bool {
        guard settings.maximumUserProperties > 0, let properties,
              properties.count > settings.maximumUserProperties
        else { return false }
        var count = 0
        for property in properties {
            if case .userProperty = property { count += 1 }
        }
        return count > settings.maximumUserProperties
    }

    /// Whether a packet from a connected client carries more User Properties than allowed: the connection is
    /// then ended with DISCONNECT 0x97 Quota Exceeded (MQTT 3 packets have no properties).
    func exceedsUserPropertyLimit(_ packet: Packet) -> Bool {
        guard settings.maximumUserProperties > 0 else { return false }
        switch packet {
        case .publish(let publish): return exceedsUserPropertyLimit(publish.properties)
        case .puback(let ack), .pubrec(let ack), .pubrel(let ack), .pubcomp(let ack):
            return exceedsUserPropertyLimit(ack.properties)
        case .subscribe(let subscribe): return exceedsUserPropertyLimit(subscribe.properties)
        case .unsubscribe(let unsubscribe): return exceedsUserPropertyLimit(unsubscribe.properties)
        case .disconnect(let disconnect): return exceedsUserPropertyLimit(disconnect.properties)
        case .auth(let auth): return exceedsUserPropertyLimit(auth.properties)
        case .connect, .connack, .suback, .unsuback, .pingreq, .pingresp: return false
        }
    }

    /// The reason a new subscription of `filter` is refused by a limit (MQTT 5 SUBACK code; 3.1.1 sends 0x80), or
    /// nil. A filter the session holds already replaces its subscription and is never over the count.
    func subscriptionRefusal(_ filter: String, session: ClientSession) -> ReasonCode? {
        if exceedsTopicLimits(filter) { return .topicFilterInvalid }
        if settings.maximumSubscriptionsPerClient > 0
            && session.subscriptions.count >= settings.maximumSubscriptionsPerClient
            && session.subscriptions[filter] == nil
        {
            return .quotaExceeded
        }
        return nil
    }
}
