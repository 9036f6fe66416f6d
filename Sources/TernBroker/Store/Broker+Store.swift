import MQTTCore
import NIOCore

/// Durability: the broker records every change to durable state as a `StoreChange`, in order, while
/// `recordsStoreChanges` is on. The server takes them after each event-loop turn (`takeStoreChanges`), commits
/// them, and only then sends what that turn wrote, so an acknowledgement never precedes its commit.
///
/// A session with Session Expiry Interval 0 ends with its connection, and so with a crash: nothing of it is
/// stored (`ClientSession.isStored`). Retained messages are always stored.
extension Broker {
    /// The changes recorded since the last call, in order.
    public func takeStoreChanges() -> [StoreChange] {
        guard !storeChanges.isEmpty else { return [] }
        defer { storeChanges.removeAll(keepingCapacity: true) }
        return storeChanges
    }

    /// Whether changes are waiting to be taken.
    public var hasStoreChanges: Bool { !storeChanges.isEmpty }

    @inline(__always)
    func record(_ change: @autoclosure () -> StoreChange) {
        if recordsStoreChanges { storeChanges.append(change()) }
    }

    /// Records the session's own fields after a change to them; a session that now ends with its connection
    /// is removed from the store instead.
    ///
    /// A session whose queue is partly in the store only stays stored until it ends, even with expiry 0: its
    /// stored queue is still to be read.
    func recordSession(_ clientID: ClientIdentifier) {
        guard recordsStoreChanges, var session = sessions[clientID] else { return }
        if session.expiryInterval > 0 || session.queuedInStoreOnly > 0 {
            session.isStored = true
            let will = session.connection != nil ? session.will.flatMap { will in
                session.access.mayPublish(topic: will.topic) ? will : nil
            } : nil
            let delayed = delayedWills[clientID]
            storeChanges.append(.sessionSaved(StoredSession(
                clientID: clientID.string, protocolVersion: session.protocolVersion,
                expiryInterval: session.expiryInterval, expiresAt: session.expiresAt.map(storeClock.wallClock),
                will: will, delayedWill: delayed.map { StoredMessage($0.message, clock: storeClock) },
                delayedWillAt: delayed.map { storeClock.wallClock($0.deadline) })))
        } else if session.isStored {
            session.isStored = false
            storeChanges.append(.sessionDeleted(clientID: clientID.string))
        }
        sessions[clientID] = session
    }

    func storedDelivery(_ delivery: OutboundDelivery) -> StoredDelivery {
        StoredDelivery(message: StoredMessage(delivery.message, clock: storeClock), qos: delivery.qos,
                       retain: delivery.retain, subscriptionIdentifiers: delivery.subscriptionIdentifiers,
                       sharedSubscription: delivery.sharedSubscription)
    }

    func outboundDelivery(_ stored: StoredDelivery) -> OutboundDelivery {
        OutboundDelivery(message: stored.message.applicationMessage(clock: storeClock), qos: stored.qos,
                         retain: stored.retain, subscriptionIdentifiers: stored.subscriptionIdentifiers,
                         sharedSubscription: stored.sharedSubscription)
    }

    func nextSequence() -> UInt64 {
        defer { nextStoreSequence += 1 }
        return nextStoreSequence
    }

    // MARK: Start-up

    /// Loads what a store kept into a broker that has no sessions yet, before any connection is accepted.
    ///
    /// Expired sessions, queued messages and retained messages are dropped (and removed from the store). A
    /// session stored as connected lost its connection in a crash: it is disconnected as of `now`, its expiry
    /// starts then, and its will is published (or scheduled after its delay) as for a lost connection.
    public func restore<Output: BrokerOutput>(_ state: StoredState, now: NIODeadline, output: inout Output) {
        let wallNow = storeClock.wallClock(now)
        for retained in state.retained {
            if retained.isExpired(atWallClock: wallNow) {
                record(.retainedCleared(topic: retained.topic))
            } else {
                retainedMessages.set(retained.topic, retained.applicationMessage(clock: storeClock))
            }
        }
        var willsNow: [ApplicationMessage] = []
        for stored in state.sessions {
            let clientID = ClientIdentifier(stored.session.clientID)
            if let expiresAt = stored.session.expiresAt, expiresAt <= wallNow {
                // Expired while the broker was down; a delayed will is due at the latest when its session ends.
                if let will = stored.session.delayedWill { willsNow.append(will.applicationMessage(clock: storeClock)) }
                record(.sessionDeleted(clientID: clientID.string))
                continue
            }
            var session = ClientSession(clientID: clientID, protocolVersion: stored.session.protocolVersion,
                                        expiryInterval: stored.session.expiryInterval)
            session.isStored = true
            var changed = false
            if let expiresAt = stored.session.expiresAt {
                session.expiresAt = storeClock.deadline(expiresAt)
            } else if session.expiryInterval != UInt32.max {
                session.expiresAt = now + .seconds(Int64(session.expiryInterval))  // connected at the crash
                changed = true
            }
            if let will = stored.session.delayedWill, let at = stored.session.delayedWillAt {
                delayedWills[clientID] = (storeClock.deadline(at), will.applicationMessage(clock: storeClock))
            } else if let will = stored.session.will {
                let message = ApplicationMessage(will: will, publisher: clientID, now: now)
                let delay = min(will.properties.willDelayInterval ?? 0, session.expiryInterval)
                if delay == 0 {
                    willsNow.append(message)
                } else {
                    delayedWills[clientID] = (now + .seconds(Int64(delay)), message)
                }
                changed = true
            }
            let slot = sessions.reserveSlot(for: clientID)
            for subscription in stored.subscriptions {
                let shared = try? SharedSubscription(parsing: subscription.topicFilter)
                subscriptionIndex.subscribe(
                    shared?.topicFilter ?? subscription.topicFilter, shareGroup: shared?.shareName,
                    subscriber: clientID, options: subscription.options, identifier: subscription.identifier,
                    sessionSlot: slot)
                session.subscriptions[subscription.topicFilter] = subscription.identifier
            }
            for inflight in stored.inflight {
                session.inflight.append(InflightMessage(
                    delivery: outboundDelivery(inflight.delivery), stage: inflight.released ? .released : .published),
                    packetIdentifier: inflight.packetIdentifier)
                session.lastPacketIdentifier = inflight.packetIdentifier
                nextStoreSequence = max(nextStoreSequence, inflight.order + 1)
            }
            for queued in stored.queue {
                nextStoreSequence = max(nextStoreSequence, queued.sequence + 1)
                if queued.delivery.message.isExpired(atWallClock: wallNow) {
                    record(.messageDequeued(clientID: clientID.string, sequence: queued.sequence))
                    statistics.recordDrop(.expired)
                    continue
                }
                var delivery = outboundDelivery(queued.delivery)
                delivery.storeSequence = queued.sequence
                enqueue(delivery, in: &session)
            }
            if stored.unloadedQueue.count > 0 {
                // The rest of a long queue stays in the store until the queue drains (see `enqueue`).
                session.queuedInStoreOnly = stored.unloadedQueue.count
                session.queuedBytes += stored.unloadedQueue.payloadBytes
                statistics.messagesQueued += stored.unloadedQueue.count
                nextStoreSequence = max(nextStoreSequence, stored.unloadedQueue.lastSequence + 1)
                session.sharedInStoreOnly = stored.unloadedShared.map { queued in
                    var delivery = outboundDelivery(queued.delivery)
                    delivery.storeSequence = queued.sequence
                    return delivery
                }
            }
            session.inboundQoS2 = Set(stored.inboundQoS2)
            sessions[clientID] = session
            if changed { recordSession(clientID) }
        }
        for will in willsNow { route(will, now: now, output: &output) }
    }
}
