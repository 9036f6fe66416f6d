import DequeModule
import MQTTCore
import NIOCore

/// The retained messages of one SUBSCRIBE that are still to be sent.
struct PendingRetained {
    var cursor: RetainedMatchCursor<ApplicationMessage>
    /// The filter as subscribed (never a shared one: those get no retained messages).
    let filter: String
    let options: SubscriptionOptions
    let identifier: UInt32?
    /// The retained index's generation when the cursor was made.
    let generation: UInt64
}

/// Retained messages on SUBSCRIBE, paced. A wildcard subscription can match a million retained messages: rather
/// than hand them all to the subscriber's socket or queue in one go, the broker sends a batch
/// (`BrokerSettings.retainedBatchSize`) and goes on as the client takes them — QoS 1 and 2 as its window frees,
/// QoS 0 as its socket drains (the server calls `continueRetained` at the end of each event-loop turn for the
/// connections whose socket is writable). Memory stays at one batch per subscriber.
extension Broker {
    /// Starts sending the retained messages `filter` matches [MQTT-3.3.1-9]: the first batch now.
    func startRetained<Output: BrokerOutput>(filter: String, options: SubscriptionOptions, identifier: UInt32?,
                                             to clientID: ClientIdentifier, now: NIODeadline, output: inout Output)
    {
        guard !retainedMessages.isEmpty else { return }
        var pending = pendingRetained.removeValue(forKey: clientID) ?? []
        pending.removeAll { $0.filter == filter }  // a new SUBSCRIBE to the filter starts over
        pending.append(PendingRetained(cursor: RetainedMatchCursor(retainedMessages, filter: filter), filter: filter,
                                       options: options, identifier: identifier,
                                       generation: retainedMessages.generation))
        pendingRetained[clientID] = pending
        _ = continueRetained(clientID, now: now, output: &output)
    }

    /// Whether some client has retained messages of a SUBSCRIBE still to receive.
    public var hasPendingRetained: Bool { !pendingRetained.isEmpty }

    /// The connections whose client has retained messages of a SUBSCRIBE still to receive.
    public var connectionsAwaitingRetained: [ConnectionID] {
        pendingRetained.keys.compactMap { sessions[$0]?.connection }
    }

    /// Sends the next batch of retained messages a connection's SUBSCRIBEs still owe its client, as far as its
    /// queue has room; returns whether it sent any and more remain (then the server calls again next turn).
    public func continueRetained<Output: BrokerOutput>(to connection: ConnectionID, now: NIODeadline,
                                                       output: inout Output) -> Bool
    {
        guard case .connected(let clientID) = connections[connection]?.state else { return false }
        return continueRetained(clientID, now: now, output: &output)
    }

    func continueRetained<Output: BrokerOutput>(_ clientID: ClientIdentifier, now: NIODeadline,
                                                output: inout Output) -> Bool
    {
        guard var pending = pendingRetained.removeValue(forKey: clientID) else { return false }
        var sent = 0
        var expired: [String] = []
        // The session in place for the whole batch: one lookup, not two per message, and no copy of it.
        withSession(clientID) { session in
            while !pending.isEmpty {
                // Taken out, not copied: a copy would share the cursor's stack of nodes, and the cursor's first
                // change would copy all of it (a million entries under a flat level of a million topics), once per
                // batch.
                var head = pending.removeFirst()
                let unchanged = head.generation == retainedMessages.generation
                let (options, identifier) = (head.options, head.identifier)
                var full = false
                head.cursor.next(prefetching: { $0.prefetchStorage() }) { topic, snapshot in
                    guard let message = retainedMessage(snapshot, on: topic, unchanged: unchanged) else { return true }
                    guard hasRoomForRetained(connection: session.connection, queuedCount: session.queuedCount,
                                             queuedBytes: session.queuedBytes, size: message.payloadSize, sent: sent,
                                             output: &output)
                    else {
                        full = true
                        return false
                    }
                    if message.isExpired(at: now) {
                        expired.append(topic)
                        return true
                    }
                    deliver(retainedDelivery(message, options: options, identifier: identifier), session: &session,
                            now: now, output: &output)
                    sent += 1
                    return true
                }
                if full {
                    pending.insert(head, at: 0)
                    break
                }
            }
        }
        for topic in expired where retainedMessages.value(for: topic)?.isExpired(at: now) == true {
            retainedMessages.set(topic, nil)
            record(.retainedCleared(topic: topic))
        }
        if !pending.isEmpty { pendingRetained[clientID] = pending }
        return sent > 0 && !pending.isEmpty
    }

    /// Whether one more retained message may go to the client now: it is connected, its socket takes more (a
    /// full one would make QoS 0 count as a slow consumer's drop), this batch is not used up, and its queue (what
    /// waits for its window) holds less than a batch and is within the queue limits.
    ///
    /// Takes the session's fields, not the session: passed from the closure that holds it in place, the session
    /// was copied for each message (a retain and a release of each of its collections). The output is `inout`
    /// for the same reason: passed by value, it was copied per message.
    private func hasRoomForRetained<Output: BrokerOutput>(connection: ConnectionID?, queuedCount queued: Int,
                                                          queuedBytes: Int, size: Int, sent: Int,
                                                          output: inout Output) -> Bool
    {
        guard sent < settings.retainedBatchSize, let connection, output.isWritable(connection) else {
            return false
        }
        return queued < settings.retainedBatchSize
            && (settings.maximumQueuedMessages <= 0 || queued < settings.maximumQueuedMessages)
            && (settings.maximumQueuedBytes <= 0 || queued == 0 || queuedBytes + size <= settings.maximumQueuedBytes)
    }

    /// The connection ended and its session stays: what its SUBSCRIBEs still owed goes to the session as to any
    /// offline subscriber (QoS 1 and 2 queued within the limits, QoS 0 dropped).
    func queuePendingRetained<Output: BrokerOutput>(_ clientID: ClientIdentifier, now: NIODeadline,
                                                    output: inout Output)
    {
        guard let pending = pendingRetained.removeValue(forKey: clientID) else { return }
        for var entry in pending {
            let unchanged = entry.generation == retainedMessages.generation
            let (options, identifier) = (entry.options, entry.identifier)
            entry.cursor.next { topic, snapshot in
                guard let message = retainedMessage(snapshot, on: topic, unchanged: unchanged),
                    !message.isExpired(at: now)
                else { return true }
                deliver(retainedDelivery(message, options: options, identifier: identifier), to: clientID, now: now,
                        output: &output)
                return true
            }
        }
    }

    /// What to send for a match of a cursor: its own message when retained messages are unchanged since it was
    /// made (its snapshot is the index), otherwise the topic's message now, nil if cleared, so that a subscriber
    /// never gets an older retained message after a newer one. A topic retained again since the SUBSCRIBE is sent
    /// although its message also went out live: skipping it would lose the newest value whenever the live copy
    /// was dropped (QoS 0 to a full write buffer, which is what a large delivery leaves).
    private func retainedMessage(_ snapshot: ApplicationMessage, on topic: String, unchanged: Bool)
        -> ApplicationMessage?
    {
        unchanged ? snapshot : retainedMessages.value(for: topic)
    }

    /// A retained message as a SUBSCRIBE gets it: with the retain flag set [MQTT-3.3.1-8], at most at the QoS
    /// granted, with the subscription's identifier.
    private func retainedDelivery(_ message: ApplicationMessage, options: SubscriptionOptions, identifier: UInt32?)
        -> OutboundDelivery
    {
        OutboundDelivery(message: message, qos: outgoingQoS(message.qos, granted: options.qos), retain: true,
                         subscriptionIdentifiers: identifier.map { [$0] } ?? [])
    }
}
