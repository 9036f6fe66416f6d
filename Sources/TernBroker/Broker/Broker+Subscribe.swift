import MQTTCore
import NIOCore

extension Broker {
    func handleSubscribe<Output: BrokerOutput>(_ subscribe: SubscribePacket, connection id: ConnectionID,
                                               clientID: ClientIdentifier, now: NIODeadline, output: inout Output)
    {
        // Taken out of the table while it changes, and put back: a copy would share the session's subscription
        // table with the one left in the table, and the first change would copy it whole, once per SUBSCRIBE (a
        // client with 100,000 subscriptions paid for 100,000 entries each time). Put back before anything else
        // reads the sessions (`protocolError`, the retained messages).
        guard var session = sessions.takeOut(clientID) else { return }
        let version = session.protocolVersion
        let identifier = subscribe.properties.subscriptionIdentifiers.first
        let maximumQoS = connections[id]?.maximumQoS ?? settings.maximumQoS
        var reasonCodes: [ReasonCode] = []
        var retainedToSend: [(filter: String, options: SubscriptionOptions)] = []
        for subscription in subscribe.subscriptions {
            let shared: SharedSubscription?
            do {
                shared = try SharedSubscription(parsing: subscription.topicFilter)
                try TopicFilter.validate(shared?.topicFilter ?? subscription.topicFilter)
            } catch {
                // MQTT 5: an invalid filter fails this subscription only, with 0x8F (section 3.9.3). MQTT 3.1.1
                // has no such code: breaking the filter rules is a protocol violation, which closes the connection
                // [MQTT-4.7.1-1, MQTT-4.7.1-2, MQTT-4.8.0-1], as Mosquitto does.
                guard version == .v5 else {
                    sessions[clientID] = session
                    return protocolError(.protocolError, connection: id, clientID: clientID, now: now,
                                         output: &output)
                }
                reasonCodes.append(error.reasonCode)
                continue
            }
            if shared != nil && subscription.options.noLocal {
                // No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
                sessions[clientID] = session
                return protocolError(.protocolError, connection: id, clientID: clientID, now: now, output: &output)
            }
            guard session.access.maySubscribe(filter: subscription.topicFilter, check: .strict) else {
                reasonCodes.append(version == .v5 ? .notAuthorized : .unspecifiedError)
                continue
            }
            if let refusal = subscriptionRefusal(subscription.topicFilter, session: session) {
                reasonCodes.append(refusal)
                continue
            }
            var options = subscription.options
            options.qos = min(options.qos, maximumQoS)
            let filter = shared?.topicFilter ?? subscription.topicFilter
            // A subscription to a filter already subscribed replaces it [MQTT-3.8.4-3].
            let isNew = subscriptionIndex.subscribe(
                filter, shareGroup: shared?.shareName, subscriber: clientID, options: options,
                identifier: identifier, sessionSlot: sessions.slot(of: clientID))
            session.subscriptions[subscription.topicFilter] = identifier
            if session.isStored {
                record(.subscriptionSaved(clientID: clientID.string, StoredSubscription(
                    topicFilter: subscription.topicFilter, options: options, identifier: identifier)))
            }
            reasonCodes.append(ReasonCode(rawValue: options.qos.rawValue))
            // Retained messages on subscribe, per Retain Handling; never for shared subscriptions
            // [MQTT-3.3.1-9, MQTT-3.3.1-10, MQTT-3.8.4-4].
            if shared == nil
                && (options.retainHandling == .sendOnSubscribe
                    || (options.retainHandling == .sendOnNewSubscribe && isNew))
            {
                retainedToSend.append((filter, options))
            }
        }
        sessions[clientID] = session
        output.send(.suback(SubAckPacket(packetIdentifier: subscribe.packetIdentifier, reasonCodes: reasonCodes)),
                    to: id)
        for (filter, options) in retainedToSend {
            startRetained(filter: filter, options: options, identifier: identifier, to: clientID, now: now,
                          output: &output)
        }
    }

    func handleUnsubscribe<Output: BrokerOutput>(_ unsubscribe: UnsubscribePacket, connection id: ConnectionID,
                                                 clientID: ClientIdentifier, output: inout Output)
    {
        guard var session = sessions.takeOut(clientID) else { return }  // as in `handleSubscribe`
        var reasonCodes: [ReasonCode] = []
        for topicFilter in unsubscribe.topicFilters {
            let shared = try? SharedSubscription(parsing: topicFilter)
            let removed = subscriptionIndex.unsubscribe(
                shared?.topicFilter ?? topicFilter, shareGroup: shared?.shareName, subscriber: clientID)
            if session.subscriptions.removeValue(forKey: topicFilter) != nil && session.isStored {
                record(.subscriptionDeleted(clientID: clientID.string, topicFilter: topicFilter))
            }
            reasonCodes.append(removed ? .success : .noSubscriptionExisted)
            // Retained messages still owed for the filter are not sent any more.
            pendingRetained[clientID]?.removeAll { $0.filter == topicFilter }
            if pendingRetained[clientID]?.isEmpty == true { pendingRetained[clientID] = nil }
        }
        sessions[clientID] = session
        // UNSUBACK even when nothing matched [MQTT-3.10.4-5].
        output.send(.unsuback(UnsubAckPacket(packetIdentifier: unsubscribe.packetIdentifier,
                                             reasonCodes: reasonCodes)), to: id)
    }
}
