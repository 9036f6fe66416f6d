/// One durable change the broker made. The broker records the changes of one event-loop turn in order; the
/// server commits them in one transaction before it sends what acknowledges them. Every change is idempotent
/// (saving replaces, deleting what is gone does nothing), so a batch may be applied again after a failure.
public enum StoreChange: Sendable, Hashable {
    /// Creates or replaces a session's own fields.
    case sessionSaved(StoredSession)
    /// Removes a session with its subscriptions, inflight and queued messages and inbound QoS 2 identifiers.
    case sessionDeleted(clientID: String)
    case subscriptionSaved(clientID: String, StoredSubscription)
    case subscriptionDeleted(clientID: String, topicFilter: String)
    case inflightSaved(clientID: String, StoredInflight)
    /// PUBREC received: the message is released, waiting for PUBCOMP.
    case inflightReleased(clientID: String, packetIdentifier: UInt16)
    case inflightDeleted(clientID: String, packetIdentifier: UInt16)
    case messageQueued(clientID: String, StoredQueuedMessage)
    case messageDequeued(clientID: String, sequence: UInt64)
    case inboundQoS2Added(clientID: String, packetIdentifier: UInt16)
    case inboundQoS2Removed(clientID: String, packetIdentifier: UInt16)
    /// Sets the retained message of its topic.
    case retainedSet(StoredMessage)
    case retainedCleared(topic: String)
}

extension StoreChange {
    /// A row that changes write or delete, for `droppingWritesDeletedLater`. Hashed by its number alone: hashing
    /// the client identifier too was a tenth of the store writer's time under durable fan-in; rows of different
    /// clients with the same number are told apart by `==`.
    private struct Row: Hashable {
        enum Kind: UInt8 { case inflight, queued, inboundQoS2 }
        let kind: Kind
        let number: UInt64
        let clientID: String

        func hash(into hasher: inout Hasher) { hasher.combine(number << 2 | UInt64(kind.rawValue)) }
    }

    /// `changes` without the writes of rows that a later change in the list deletes: a message saved in flight
    /// (or queued, or an inbound QoS 2 identifier added) and acknowledged again before the commit that would have
    /// saved it. The deletions stay (a row written by an earlier commit goes all the same), so the outcome of the
    /// commit is the same; what it saves is the insert of each such message with its payload, the most of a
    /// durable message's cost in SQLite.
    public static func droppingWritesDeletedLater(_ changes: [StoreChange]) -> [StoreChange] {
        // The last write of each row, and for each write the one of the same row before it.
        var lastWrite: [Row: Int] = [:]
        lastWrite.reserveCapacity(changes.count)  // never rehashed as it grows
        var earlierWrite: [Int] = []
        var dropped: [Bool] = []
        // By index, each change switched on in place: a `for`-`in` copied every change (its strings, message
        // and payload retained and released).
        for index in changes.indices {
            let row: Row, deletes: Bool
            switch changes[index] {
            case .inflightSaved(let clientID, let inflight):
                (row, deletes) = (Row(kind: .inflight, number: UInt64(inflight.packetIdentifier), clientID: clientID),
                                  false)
            case .inflightReleased(let clientID, let packetIdentifier):
                (row, deletes) = (Row(kind: .inflight, number: UInt64(packetIdentifier), clientID: clientID), false)
            case .inflightDeleted(let clientID, let packetIdentifier):
                (row, deletes) = (Row(kind: .inflight, number: UInt64(packetIdentifier), clientID: clientID), true)
            case .messageQueued(let clientID, let queued):
                (row, deletes) = (Row(kind: .queued, number: queued.sequence, clientID: clientID), false)
            case .messageDequeued(let clientID, let sequence):
                (row, deletes) = (Row(kind: .queued, number: sequence, clientID: clientID), true)
            case .inboundQoS2Added(let clientID, let packetIdentifier):
                (row, deletes) = (Row(kind: .inboundQoS2, number: UInt64(packetIdentifier), clientID: clientID),
                                  false)
            case .inboundQoS2Removed(let clientID, let packetIdentifier):
                (row, deletes) = (Row(kind: .inboundQoS2, number: UInt64(packetIdentifier), clientID: clientID),
                                  true)
            default:
                continue
            }
            if deletes {
                guard var write = lastWrite.removeValue(forKey: row) else { continue }
                if dropped.isEmpty { dropped = Array(repeating: false, count: changes.count) }
                while write >= 0 {
                    dropped[write] = true
                    write = earlierWrite[write]
                }
            } else {
                if earlierWrite.isEmpty { earlierWrite = Array(repeating: -1, count: changes.count) }
                earlierWrite[index] = lastWrite.updateValue(index, forKey: row) ?? -1
            }
        }
        guard !dropped.isEmpty else { return changes }
        var kept: [StoreChange] = []
        kept.reserveCapacity(changes.count)
        for index in changes.indices where !dropped[index] { kept.append(changes[index]) }
        return kept
    }
}
