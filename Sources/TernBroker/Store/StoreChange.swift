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
