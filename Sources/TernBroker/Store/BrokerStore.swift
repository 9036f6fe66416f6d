/// Sessions with their subscriptions, inflight messages and inbound QoS 2 identifiers.
public protocol SessionStore: AnyObject {
    /// Every stored session with what belongs to it; of each queue, the first `queueHeadLimit` messages (the
    /// rest is summed up in `StoredSessionState.unloadedQueue`).
    func loadSessions(queueHeadLimit: Int) throws -> [StoredSessionState]
    /// The number of stored sessions.
    func sessionCount() throws -> Int
}

extension SessionStore {
    /// Every stored session with its whole queue.
    public func loadSessions() throws -> [StoredSessionState] { try loadSessions(queueHeadLimit: Int.max) }
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
    /// The messages queued for a session with a sequence above `sequence`, in order, at most `limit`.
    func queuedMessages(clientID: String, after sequence: UInt64, limit: Int) throws -> [StoredQueuedMessage]
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
    /// Everything stored, for the broker's `restore`; of each session's queue, the first `queueHeadLimit`
    /// messages (`BrokerSettings.queuePageSize`; 0 for all).
    public func load(queueHeadLimit: Int = 0) throws -> StoredState {
        StoredState(sessions: try loadSessions(queueHeadLimit: queueHeadLimit > 0 ? queueHeadLimit : Int.max),
                    retained: try loadRetained())
    }
}
