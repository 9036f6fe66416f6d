import MQTTCore

/// The recipients of one message while `Broker.route` collects them: one delivery per client, merging the
/// client's matching subscriptions (highest QoS, every subscription identifier).
///
/// The first recipient is held inline and a dictionary is used from the second on: most messages have one
/// recipient (fan-in, point-to-point), and for them this saves hashing the client identifier twice, inserting
/// into and clearing a dictionary, per message.
struct RouteTargets {
    private var first: (subscriber: ClientIdentifier, delivery: OutboundDelivery)?
    /// Every recipient once there are two or more (`first` is then nil); kept empty between messages, for its
    /// capacity.
    private var many: [ClientIdentifier: OutboundDelivery] = [:]

    var count: Int { first == nil ? many.count : 1 }

    /// Adds a matching subscription of `subscriber` that delivers at `qos`.
    mutating func merge(subscriber: ClientIdentifier, qos: QoS, retain: Bool, identifier: UInt32?,
                        message: ApplicationMessage, shared: SharedSubscription?)
    {
        if first == nil && many.isEmpty {
            first = (subscriber, OutboundDelivery(
                message: message, qos: qos, retain: retain, subscriptionIdentifiers: identifier.map { [$0] } ?? [],
                sharedSubscription: shared))
            return
        }
        if first != nil {
            if first!.subscriber == subscriber {
                Self.add(qos: qos, retain: retain, identifier: identifier, to: &first!.delivery)
                return
            }
            many[first!.subscriber] = first!.delivery
            first = nil
        }
        // One hashed access, whether the subscriber is new or not.
        var isNew = false
        Broker.inPlace(&many[subscriber, default: {
            isNew = true
            return OutboundDelivery(
                message: message, qos: qos, retain: retain, subscriptionIdentifiers: identifier.map { [$0] } ?? [],
                sharedSubscription: shared)
        }()]) { existing in
            if !isNew { Self.add(qos: qos, retain: retain, identifier: identifier, to: &existing) }
        }
    }

    /// Another subscription of the same client matched.
    private static func add(qos: QoS, retain: Bool, identifier: UInt32?, to existing: inout OutboundDelivery) {
        existing.qos = max(existing.qos, qos)
        existing.retain = existing.retain || retain
        if let identifier { existing.subscriptionIdentifiers.append(identifier) }
        existing.sharedSubscription = nil  // no longer owed to the group alone
    }

    /// The delivery for `subscriber`, if it is a recipient.
    subscript(subscriber: ClientIdentifier) -> OutboundDelivery? {
        if let first { return first.subscriber == subscriber ? first.delivery : nil }
        return many[subscriber]
    }

    /// Calls `body` with every recipient, then empties the table (keeping its capacity).
    mutating func drain(_ body: (ClientIdentifier, OutboundDelivery) -> Void) {
        if let first {
            self.first = nil
            body(first.subscriber, first.delivery)
            return
        }
        for (subscriber, delivery) in many { body(subscriber, delivery) }
        many.removeAll(keepingCapacity: true)
    }
}
