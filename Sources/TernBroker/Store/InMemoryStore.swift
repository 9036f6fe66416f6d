import NIOConcurrencyHelpers

/// A `BrokerStore` in memory: what a broker with `persistence false` would keep if it had a store, and the
/// reference the SQLite store is tested against. Thread-safe (a lock around its state).
public final class InMemoryStore: BrokerStore, Sendable {
    private struct Contents {
        var sessions: [String: StoredSessionState] = [:]
        var retained: [String: StoredMessage] = [:]
    }

    private let contents = NIOLockedValueBox(Contents())

    public init() {}

    public func loadSessions(queueHeadLimit: Int) throws -> [StoredSessionState] {
        contents.withLockedValue { contents in
            contents.sessions.keys.sorted().map { clientID in
                var state = contents.sessions[clientID]!
                if state.queue.count > queueHeadLimit {
                    let rest = state.queue[queueHeadLimit...]
                    state.unloadedQueue = StoredQueueExtent(
                        count: rest.count,
                        payloadBytes: rest.reduce(0) { $0 + $1.delivery.message.payload.readableBytes },
                        lastSequence: rest.last!.sequence)
                    state.unloadedShared = rest.filter {
                        $0.delivery.sharedSubscription != nil && $0.delivery.qos != .atMostOnce
                    }
                    state.queue.removeSubrange(queueHeadLimit...)
                }
                return state
            }
        }
    }

    public func sessionCount() throws -> Int { contents.withLockedValue { $0.sessions.count } }

    public func loadRetained() throws -> [StoredMessage] {
        contents.withLockedValue { contents in contents.retained.keys.sorted().map { contents.retained[$0]! } }
    }

    public func retainedCount() throws -> Int { contents.withLockedValue { $0.retained.count } }

    public func queuedCount(clientID: String) throws -> Int {
        contents.withLockedValue { $0.sessions[clientID]?.queue.count ?? 0 }
    }

    public func queuedMessages(clientID: String, after sequence: UInt64, limit: Int) throws
        -> [StoredQueuedMessage]
    {
        contents.withLockedValue { contents in
            Array((contents.sessions[clientID]?.queue ?? []).lazy.filter { $0.sequence > sequence }.prefix(limit))
        }
    }

    public func commit(_ changes: [StoreChange]) throws {
        contents.withLockedValue { contents in
            for change in changes { Self.apply(change, to: &contents) }
        }
    }

    private static func apply(_ change: StoreChange, to contents: inout Contents) {
        switch change {
        case .sessionSaved(let session):
            if contents.sessions[session.clientID] == nil {
                contents.sessions[session.clientID] = StoredSessionState(session: session)
            } else {
                contents.sessions[session.clientID]!.session = session
            }
        case .sessionDeleted(let clientID):
            contents.sessions[clientID] = nil
        case .subscriptionSaved(let clientID, let subscription):
            contents.sessions[clientID]?.subscriptions.removeAll { $0.topicFilter == subscription.topicFilter }
            contents.sessions[clientID]?.subscriptions.append(subscription)
        case .subscriptionDeleted(let clientID, let topicFilter):
            contents.sessions[clientID]?.subscriptions.removeAll { $0.topicFilter == topicFilter }
        case .inflightSaved(let clientID, let inflight):
            contents.sessions[clientID]?.inflight.removeAll { $0.packetIdentifier == inflight.packetIdentifier }
            contents.sessions[clientID]?.inflight.append(inflight)
            contents.sessions[clientID]?.inflight.sort { $0.order < $1.order }
        case .inflightReleased(let clientID, let packetIdentifier):
            guard let index = contents.sessions[clientID]?.inflight.firstIndex(where: {
                $0.packetIdentifier == packetIdentifier
            }) else { return }
            contents.sessions[clientID]!.inflight[index].released = true
        case .inflightDeleted(let clientID, let packetIdentifier):
            contents.sessions[clientID]?.inflight.removeAll { $0.packetIdentifier == packetIdentifier }
        case .messageQueued(let clientID, let queued):
            contents.sessions[clientID]?.queue.removeAll { $0.sequence == queued.sequence }
            contents.sessions[clientID]?.queue.append(queued)
        case .messageDequeued(let clientID, let sequence):
            contents.sessions[clientID]?.queue.removeAll { $0.sequence == sequence }
        case .inboundQoS2Added(let clientID, let packetIdentifier):
            if contents.sessions[clientID]?.inboundQoS2.contains(packetIdentifier) == false {
                contents.sessions[clientID]!.inboundQoS2.append(packetIdentifier)
            }
        case .inboundQoS2Removed(let clientID, let packetIdentifier):
            contents.sessions[clientID]?.inboundQoS2.removeAll { $0 == packetIdentifier }
        case .retainedSet(let message):
            contents.retained[message.topic] = message
        case .retainedCleared(let topic):
            contents.retained[topic] = nil
        }
    }
}
