import NIOCore

/// A publisher the broker does not read for now, and why.
struct HeldPublisher {
    /// The subscriber whose queue its messages filled.
    let subscriber: ClientIdentifier
    let since: NIODeadline
}

/// Publisher flow control: a publisher faster than a subscriber of its messages is held back instead of filling the
/// subscriber's queue until the queue limits drop messages.
///
/// The broker acknowledges a QoS 1 or 2 message once it is queued for every subscriber, and reads a publisher as fast
/// as it sends. A subscriber's window (its Receive Maximum and `max_inflight_messages`) lets only so many messages
/// be in flight; the rest wait in its queue, so a publisher faster than the subscriber's acknowledgements grows the
/// queue until `max_queued_messages` drops what comes next (a fan-out publisher read at 70,000 msg/s into 100 QoS 1
/// subscribers lost four messages in five). Here, a delivery that leaves a connected, live subscriber's queue at
/// `flowControlMark` stops the reading of the connection that published it; TCP then slows that client, as if the
/// broker were as slow as the subscriber. Reading resumes when the queue has drained to half the mark.
///
/// What keeps this from stalling:
/// - Only a live subscriber holds publishers back, one that sent a packet (its acknowledgements, most of the time)
///   within the last second: one that stopped reading gets the queue limits (its messages are dropped), not a hold
///   on everyone who publishes to it.
/// - A client that has messages in flight or queued to it is never held (its acknowledgements are what drain
///   queues), and one that gets a QoS 1 or 2 message while held is read again at once.
/// - A subscriber that goes offline releases its publishers, and no publisher is held longer than
///   `longestHold` at a time (it is then read again, its keep alive counted from then; the next message into a
///   still full queue holds it again): a held client's PINGREQ is answered within that time.
extension Broker {
    /// Queued messages (beyond those in flight) at which a subscriber holds back the publisher of the next one:
    /// half the queue limit, at most 1,000.
    var flowControlMark: Int {
        settings.maximumQueuedMessages > 0 ? max(1, min(settings.maximumQueuedMessages / 2, 1000)) : 1000
    }

    static var longestHold: TimeAmount { .seconds(1) }

    /// After a PUBLISH was routed: holds its publisher back if a delivery filled a live subscriber's queue to the mark.
    func holdBackIfCongested<Output: BrokerOutput>(publisher id: ConnectionID, clientID: ClientIdentifier,
                                                   now: NIODeadline, output: inout Output)
    {
        guard let subscriber = congestedByRoute else { return }
        congestedByRoute = nil
        // The sessions read in place (`withSession`): `sessions[key]` would copy one out.
        guard settings.publisherFlowControl, heldPublishers[id] == nil, subscriber != clientID,
            let connection = withSession(subscriber, { $0.connection }) ?? nil,
            let lastActivity = connections[connection]?.lastActivity, now - lastActivity < Self.longestHold,
            withSession(clientID, { $0.inflight.isEmpty && $0.queuedCount == 0 }) == true
        else { return }
        heldPublishers[id] = HeldPublisher(subscriber: subscriber, since: now)
        publishersHeldBy[subscriber, default: []].append(id)
        statistics.publishersHeldBack += 1
        output.pauseReading(id)
    }

    /// Called as a subscriber's queue drains: at half the mark, the publishers it held are read again.
    @inline(__always)
    func releasePublishersIfDrained<Output: BrokerOutput>(_ subscriber: ClientIdentifier, queued: Int,
                                                          output: inout Output)
    {
        guard !publishersHeldBy.isEmpty, queued <= flowControlMark / 2 else { return }
        releasePublishers(heldBy: subscriber, output: &output)
    }

    func releasePublishers<Output: BrokerOutput>(heldBy subscriber: ClientIdentifier, output: inout Output) {
        // Checked first: the removal would hash the identifier (SipHash) even with no publisher held.
        guard !publishersHeldBy.isEmpty, let held = publishersHeldBy.removeValue(forKey: subscriber) else { return }
        for id in held where heldPublishers.removeValue(forKey: id) != nil {
            output.resumeReading(id)
        }
    }

    /// Reads a held publisher again (it was sent a message it must acknowledge, or held too long).
    func releaseHeldPublisher<Output: BrokerOutput>(_ id: ConnectionID, now: NIODeadline, output: inout Output) {
        guard forgetHeldPublisher(id) else { return }
        // Its client could not send while it was not read: its keep alive counts from now.
        connections[id]?.lastActivity = now
        output.resumeReading(id)
    }

    /// Forgets a held publisher (released, or its connection gone); false if it was not held.
    @discardableResult
    func forgetHeldPublisher(_ id: ConnectionID) -> Bool {
        guard let held = heldPublishers.removeValue(forKey: id) else { return false }
        publishersHeldBy[held.subscriber]?.removeAll { $0 == id }
        if publishersHeldBy[held.subscriber]?.isEmpty == true { publishersHeldBy[held.subscriber] = nil }
        return true
    }

    func releaseLongHeldPublishers<Output: BrokerOutput>(now: NIODeadline, output: inout Output) {
        for (id, held) in heldPublishers where now - held.since >= Self.longestHold {
            releaseHeldPublisher(id, now: now, output: &output)
        }
    }
}
