import MQTTCore

/// The recipients of one message while `Broker.route` collects them: one delivery per client, merging the
/// client's matching subscriptions (highest QoS, every subscription identifier).
///
/// Recipients are kept in an array, and looked up by client identifier only once a second matching filter (or
/// share group) adds some: one filter's subscriptions have distinct subscribers, so a message that matches a
/// single filter (fan-in, fan-out and point-to-point alike) reaches its recipients without hashing a client
/// identifier, where a dictionary cost two hashed accesses per recipient. The broker reuses one table, which
/// keeps its capacity from message to message.
struct RouteTargets {
    /// A struct, not a tuple: an array of tuples is emptied through the runtime's generic tuple witnesses (1-2% of
    /// the user time per lone message).
    private struct Recipient {
        var subscriber: ClientIdentifier
        var sessionSlot: SessionSlot
        var delivery: OutboundDelivery
    }

    private var recipients: [Recipient] = []
    /// Each recipient's position in `recipients`, kept from the second matching filter on (`isIndexed`).
    private var positions: [ClientIdentifier: Int] = [:]
    private var isIndexed = false

    var count: Int { recipients.count }

    /// Starts the subscriptions of another matching filter, or another share group's pick: from the second one
    /// on, a recipient may already be there.
    mutating func beginFilter() {
        guard !isIndexed, !recipients.isEmpty else { return }
        isIndexed = true
        for (position, recipient) in recipients.enumerated() { positions[recipient.subscriber] = position }
    }

    /// Adds what a matching subscription of `subscriber` (whose session is in `sessionSlot`) delivers.
    mutating func merge(_ delivery: OutboundDelivery, subscriber: ClientIdentifier, sessionSlot: SessionSlot) {
        if isIndexed {
            if let position = positions[subscriber] {
                Self.add(delivery, to: &recipients[position].delivery)
                return
            }
            positions[subscriber] = recipients.count
        }
        recipients.append(Recipient(subscriber: subscriber, sessionSlot: sessionSlot, delivery: delivery))
    }

    /// Another subscription of the same client matched.
    private static func add(_ other: OutboundDelivery, to existing: inout OutboundDelivery) {
        existing.qos = max(existing.qos, other.qos)
        existing.retain = existing.retain || other.retain
        existing.subscriptionIdentifiers.append(contentsOf: other.subscriptionIdentifiers)
        existing.sharedSubscription = nil  // no longer owed to the group alone
    }

    /// Calls `body` with every recipient, then empties the table (keeping its capacity).
    mutating func drain(_ body: (ClientIdentifier, SessionSlot, OutboundDelivery) -> Void) {
        for recipient in recipients { body(recipient.subscriber, recipient.sessionSlot, recipient.delivery) }
        recipients.removeAll(keepingCapacity: true)
        if isIndexed {
            positions.removeAll(keepingCapacity: true)
            isIndexed = false
        }
    }
}
