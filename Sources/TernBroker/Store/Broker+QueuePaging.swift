import MQTTCore
import NIOCore

/// A request for the next page of a session's queue from the store: the messages queued for `clientID` with a
/// sequence above `after`, in order, at most `limit`. The server reads it once every change recorded before the
/// request is committed, and hands the answer to `Broker.receiveQueuePage`.
public struct QueuePageRequest: Sendable, Hashable {
    public var clientID: String
    public var after: UInt64
    public var limit: Int
}

/// Bounded memory for long queues. With a store, a stored session keeps at most `queuePageSize` queued messages
/// in memory; the messages queued beyond them are written to the store only (they are counted, not kept), and
/// read back a page at a time as the queue drains. A broker with a million messages queued for offline clients
/// holds a page of each queue in memory, and a client that comes back gets its queue paced by its window.
extension Broker {
    /// Appends to the session's queue, keeping the per-session and broker-wide counts that the queue limits
    /// (`max_queued_messages`, `max_queued_bytes`, `max_queued_messages_total`) are checked against. For a
    /// stored session whose in-memory page is full (or that has messages in the store only already, which come
    /// first), the message stays in the store only: the caller has recorded it.
    func enqueue(_ delivery: OutboundDelivery, in session: inout ClientSession) {
        session.queuedBytes += delivery.message.payloadSize
        statistics.messagesQueued += 1
        if session.isStored && recordsStoreChanges && settings.queuePageSize > 0
            && (session.queuedInStoreOnly > 0 || session.queue.count >= settings.queuePageSize)
        {
            session.queuedInStoreOnly += 1
            if delivery.passesToShareGroup {
                session.sharedInStoreOnly.append(delivery)
            }
            return
        }
        session.queue.append(delivery)
        if session.isStored { session.lastSequenceInMemory = delivery.storeSequence }
    }

    func dequeueFirst(from session: inout ClientSession) {
        let delivery = session.queue.removeFirst()
        session.queuedBytes -= delivery.message.payloadSize
        statistics.messagesQueued -= 1
        // Ask for the next page while half of this one is left, so that the window rarely waits for the disk.
        if session.queuedInStoreOnly > 0 && !session.awaitsQueuePage
            && session.queue.count <= settings.queuePageSize / 2
        {
            session.awaitsQueuePage = true
            queuePageRequests.append(QueuePageRequest(
                clientID: session.clientID.string, after: session.lastSequenceInMemory,
                limit: settings.queuePageSize - session.queue.count))
        }
    }

    /// The page requests made since the last call, for the server to read from the store.
    public func takeQueuePageRequests() -> [QueuePageRequest] {
        guard !queuePageRequests.isEmpty else { return [] }
        defer { queuePageRequests.removeAll(keepingCapacity: true) }
        return queuePageRequests
    }

    /// The store's answer to a `QueuePageRequest`: the messages join the session's queue in memory and go out as
    /// its window allows. An answer for a session that ended or started over meanwhile is ignored.
    public func receiveQueuePage<Output: BrokerOutput>(_ request: QueuePageRequest,
                                                       messages: [StoredQueuedMessage], now: NIODeadline,
                                                       output: inout Output)
    {
        let clientID = ClientIdentifier(request.clientID)
        withSession(clientID) { session in
            readIn(request, messages: messages, now: now, session: &session)
            drainQueue(session: &session, now: now, output: &output)
        }
    }

    private func readIn(_ request: QueuePageRequest, messages: [StoredQueuedMessage], now: NIODeadline,
                        session: inout ClientSession)
    {
        guard session.awaitsQueuePage, session.lastSequenceInMemory == request.after else { return }
        session.awaitsQueuePage = false
        for queued in messages where session.queuedInStoreOnly > 0 && queued.sequence > session.lastSequenceInMemory {
            var delivery = outboundDelivery(queued.delivery)
            delivery.storeSequence = queued.sequence
            delivery.queuedAt = now
            session.queue.append(delivery)
            session.queuedInStoreOnly -= 1
            session.lastSequenceInMemory = queued.sequence
        }
        let readBack = session.sharedInStoreOnly.prefix { $0.storeSequence <= session.lastSequenceInMemory }.count
        session.sharedInStoreOnly.removeFirst(readBack)
        if messages.count < request.limit && session.queuedInStoreOnly > 0 {
            // The store holds fewer than were counted (only if it was changed behind the broker's back): forget
            // the difference rather than wait for messages that will not come.
            statistics.messagesQueued -= session.queuedInStoreOnly
            session.queuedInStoreOnly = 0
            session.sharedInStoreOnly = []
            session.queuedBytes = session.queue.reduce(0) { $0 + $1.message.payloadSize }
        }
    }
}
