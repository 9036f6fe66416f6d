/// Sessions with their subscriptions, inflight messages and inbound QoS 2 identifiers.
public protocol SessionStore: AnyObject {
    /// Every stored session with what belongs to it.
    func loadSessions() throws -> [StoredSessionState]
    /// The number of stored sessions.
    func sessionCount() throws -> Int
}

/// Retained messages by topic.
public protocol RetainedStore: AnyObject {
    func loadRetained() throws -> [StoredMessage]
    func retainedCount() throws -> Int
}

/// Messages queued for sessions, in order.
public protocol MessageQueue: AnyObject {
    /// The number of messages queued for a session.
    func queuedCount(clientID: String) throws -> Int
}

/// The whole durable state of a broker. `commit` applies one batch of changes atomically and durably: when it
/// returns, the changes survive a crash (what "durably" means is the implementation's sync setting). Calls come
/// from one thread at a time (the server's store writer), and `load` only before the first `commit`.
///
/// Nothing here assumes a single process: changes are idempotent and keyed by client identifier, topic,
/// packet identifier or sequence number, so a replicated backend can apply them as they are.
public protocol BrokerStore: SessionStore, RetainedStore, MessageQueue {
    func commit(_ changes: [StoreChange]) throws
}

extension BrokerStore {
    /// Everything stored, for the broker's `restore`.
    public func load() throws -> StoredState {
        StoredState(sessions: try loadSessions(), retained: try loadRetained())
    }
}
