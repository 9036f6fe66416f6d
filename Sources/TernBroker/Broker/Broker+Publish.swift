import MQTTCore
import NIOCore

extension Broker {
    // MARK: Inbound PUBLISH and the QoS 2 release

    func handlePublish<Output: BrokerOutput>(_ publish: consuming PublishPacket, connection: ClientConnection,
                                             clientID: ClientIdentifier, now: NIODeadline, output: inout Output)
    {
        let id = connection.id
        let version = connection.protocolVersion
        statistics.recordReceived(publish.qos, payloadBytes: publish.payload.readableBytes)

        // Topic aliases (section 3.3.2.3.4): 1 to the advertised maximum [MQTT-3.3.2-9, MQTT-3.3.2-10].
        // The topic is moved out of the packet, not copied: a copy cost a retain and a release per message.
        var topic = ""
        swap(&topic, &publish.topic)
        if let alias = publish.properties.topicAlias {
            guard alias >= 1, alias <= connection.topicAliasMaximum else {
                return protocolError(.topicAliasInvalid, connection: id, clientID: clientID, now: now,
                                     output: &output)
            }
            if topic.isEmpty {
                guard let known = connection.inboundTopicAliases[alias] else {
                    return protocolError(.protocolError, connection: id, clientID: clientID, now: now,
                                         output: &output)
                }
                topic = known
            } else {
                connection.inboundTopicAliases[alias] = topic
            }
        }
        if !connection.mountPoint.isEmpty { topic = connection.mountPoint.topic(topic) }  // after the alias
        if publish.qos > connection.maximumQoS {  // [MQTT-3.2.2-11]
            return protocolError(.qosNotSupported, connection: id, clientID: clientID, now: now, output: &output)
        }
        if publish.retain && !settings.retainAvailable {
            return protocolError(.retainNotSupported, connection: id, clientID: clientID, now: now,
                                 output: &output)
        }

        // Not authorized, beyond `max_topic_length`/`max_topic_levels` (0x90), or larger than `message_size_limit`
        // (0x83: PUBACK and PUBREC cannot carry 0x95 Packet too large, which Mosquitto sends there): MQTT 5 learns
        // it from the acknowledgement; 3.1.1 has no way to say it, so the message is acknowledged and dropped, as
        // Mosquitto does. Reserved topics ($SYS) are refused to every client.
        let mayPublish = connection.publishesUnrestricted
            ? !ReservedTopic.forbidsPublishing(topic)  // what `mayPublish` decides then, without a session lookup
            : sessions.withSession(at: connection.sessionSlot, clientID) { $0.access.mayPublish(topic: topic) }
                ?? false
        let refusal: ReasonCode? =
            !mayPublish ? .notAuthorized
            : exceedsTopicLimits(topic) ? .topicNameInvalid
            : settings.messageSizeLimit > 0 && publish.payload.readableBytes > settings.messageSizeLimit
                ? .implementationSpecificError : nil
        if let refusal {
            statistics.recordDrop(refusal == .notAuthorized ? .notAuthorized
                                  : refusal == .topicNameInvalid ? .topicLimit : .tooLarge)
            let reasonCode: ReasonCode = version == .v5 ? refusal : .success
            switch publish.qos {
            case .atMostOnce: break
            case .atLeastOnce:
                output.send(.puback(PublishAckPacket(packetIdentifier: publish.packetIdentifier!,
                                                     reasonCode: reasonCode)), to: id)
            case .exactlyOnce:
                // A failed PUBREC ends the exchange; with success (3.1.1) the PUBREL still gets its PUBCOMP.
                output.send(.pubrec(PublishAckPacket(packetIdentifier: publish.packetIdentifier!,
                                                     reasonCode: reasonCode)), to: id)
            }
            return
        }

        // The store cannot keep it (a full disk): refused rather than acknowledged and lost.
        if publish.qos != .atMostOnce && !acceptsDurableMessages {
            statistics.recordDrop(.storeUnavailable)
            guard version == .v5 else {
                return protocolError(.quotaExceeded, connection: id, clientID: clientID, now: now, output: &output)
            }
            let ack = PublishAckPacket(packetIdentifier: publish.packetIdentifier!, reasonCode: .quotaExceeded)
            output.send(publish.qos == .atLeastOnce ? .puback(ack) : .pubrec(ack), to: id)
            return
        }

        let (qos, packetIdentifier) = (publish.qos, publish.packetIdentifier)
        let message = ApplicationMessage(publish: publish, topic: consume topic, publisher: clientID, now: now)
        // Assigned only when set: assigning nil over nil still released the old value (a call per message).
        if congestedByRoute != nil { congestedByRoute = nil }
        defer { holdBackIfCongested(publisher: id, clientID: clientID, now: now, output: &output) }
        switch qos {
        case .atMostOnce:
            route(message, now: now, output: &output)
        case .atLeastOnce:
            let delivered = route(message, now: now, output: &output)
            let reasonCode: ReasonCode = delivered == 0 && version == .v5 ? .noMatchingSubscribers : .success
            output.send(.puback(PublishAckPacket(packetIdentifier: packetIdentifier!, reasonCode: reasonCode)), to: id)
        case .exactlyOnce:
            let packetIdentifier = packetIdentifier!
            // In place: a copy of the session would copy its identifier set at the insertion.
            let arrival: InboundQoS2Arrival? = sessions.withSession(at: connection.sessionSlot, clientID) { session in
                // Forwarded once; a re-sent PUBLISH with the same identifier before PUBREL is only acknowledged
                // again (section 4.3.3, method B).
                if session.inboundQoS2.contains(packetIdentifier) { return .repeated }
                // More unacknowledged QoS 2 publications than the advertised Receive Maximum [MQTT-3.3.4-9].
                guard session.inboundQoS2.count < Int(settings.receiveMaximum) else { return .beyondMaximum }
                session.inboundQoS2.insert(packetIdentifier)
                if session.isStored {
                    record(.inboundQoS2Added(clientID: clientID.string, packetIdentifier: packetIdentifier))
                }
                return .new
            }
            switch arrival {
            case nil: return
            case .beyondMaximum?:
                return protocolError(.receiveMaximumExceeded, connection: id, clientID: clientID, now: now,
                                     output: &output)
            case .new?: route(message, now: now, output: &output)
            case .repeated?: break
            }
            output.send(.pubrec(PublishAckPacket(packetIdentifier: packetIdentifier)), to: id)
        }
    }

    func handlePubRel<Output: BrokerOutput>(_ ack: PublishAckPacket, connection id: ConnectionID,
                                            clientID: ClientIdentifier, output: inout Output)
    {
        let known = sessions[clientID]?.inboundQoS2.remove(ack.packetIdentifier) != nil
        if known && sessions[clientID]?.isStored == true {
            record(.inboundQoS2Removed(clientID: clientID.string, packetIdentifier: ack.packetIdentifier))
        }
        let reasonCode: ReasonCode =
            known || connections[id]?.protocolVersion != .v5 ? .success : .packetIdentifierNotFound
        output.send(.pubcomp(PublishAckPacket(packetIdentifier: ack.packetIdentifier, reasonCode: reasonCode)), to: id)
    }

    /// What an inbound QoS 2 PUBLISH is to the session that receives it.
    enum InboundQoS2Arrival {
        case new, repeated, beyondMaximum
    }

    // MARK: Routing

    /// Stores or clears the retained message, then delivers the message to every matching subscription: once per
    /// client, at the highest matching QoS, with every matching subscription identifier; one member per shared
    /// subscription group. Returns the number of clients it was delivered or queued to.
    @discardableResult
    func route<Output: BrokerOutput>(_ message: ApplicationMessage, now: NIODeadline, output: inout Output) -> Int {
        if message.retain {
            // An empty payload clears the retained message and is never stored itself [MQTT-3.3.1-6, MQTT-3.3.1-7].
            if message.payloadSize == 0 {
                if retainedMessages.set(message.topic, nil) != nil { record(.retainedCleared(topic: message.topic)) }
            } else {
                retainedMessages.set(message.topic, message)
                record(.retainedSet(StoredMessage(message, clock: storeClock)))
            }
        }
        let nodes = topicMatches.matchingNodes(topicName: message.topic, generation: subscriptionIndex.generation) {
            subscriptionIndex.forEachMatchingNode(topicName: message.topic, $0)
        }
        if nodes.count == 1, nodes[0]._withUnsafeGuaranteedRef({ $0.groups.isEmpty }) {
            // One filter matched (fan-in, fan-out, point-to-point): its subscribers are distinct, so there is
            // nothing to merge, and each is delivered to straight from its entry, without copying the entry into
            // `RouteTargets` and out again (5-8% of the broker core's time in fan-out). The node is used through
            // the cache's unretained reference (routing does not change the index): a retain and a release less.
            var count = 0
            nodes[0]._withUnsafeGuaranteedRef { node in
                node.plain.forEachInPlace { entry in
                    guard delivers(through: entry, of: message) else { return }
                    count += 1
                    deliver(makeDelivery(through: entry, of: message), to: entry.pointee.subscriber,
                            in: entry.pointee.sessionSlot, now: now, output: &output)
                }
            }
            return count
        }
        // The broker's reusable table, taken out while in use (a nested route, from a will, gets a new one): saves
        // allocating and growing it per message.
        var targets = routeTargets
        routeTargets = RouteTargets()
        var groups: [(key: String, members: SubscriptionIndex<ClientIdentifier>.ShareGroupMembers)] = []
        for reference in nodes {
            let node = reference.takeUnretainedValue()
            if !node.plain.isEmpty {
                targets.beginFilter()
                node.plain.forEachInPlace { entry in
                    guard delivers(through: entry, of: message) else { return }
                    targets.merge(makeDelivery(through: entry, of: message), subscriber: entry.pointee.subscriber,
                                  sessionSlot: entry.pointee.sessionSlot)
                }
            }
            for group in node.groups {
                groups.append((group.name + "/" + group.filter,
                               SubscriptionIndex<ClientIdentifier>.ShareGroupMembers(group.members)))
            }
        }
        for (key, members) in groups {
            let member = pickShareMember(key, members)
            let shared = SharedSubscription(shareName: member.shareGroup!, topicFilter: member.filter)
            guard let delivery = delivery(through: member, of: message, shared: shared) else { continue }
            targets.beginFilter()
            targets.merge(delivery, subscriber: member.subscriber, sessionSlot: member.sessionSlot)
        }
        let count = targets.count
        targets.drain { clientID, slot, delivery in
            deliver(delivery, to: clientID, in: slot, now: now, output: &output)
        }
        routeTargets = targets
        return count
    }

    /// What a matching subscription delivers of `message`; nil when No Local keeps it from the publisher
    /// [MQTT-3.8.3-3] (a shared subscription never has No Local: [MQTT-3.8.3-4]).
    func delivery(through entry: SubscriptionIndex<ClientIdentifier>.Entry, of message: ApplicationMessage,
                  shared: SharedSubscription? = nil) -> OutboundDelivery?
    {
        withUnsafePointer(to: entry) { delivery(through: $0, of: message, shared: shared) }
    }

    /// The same, for an entry read where it lies in the index (`SubscriberEntries.forEachInPlace`).
    func delivery(through entry: UnsafePointer<SubscriptionIndex<ClientIdentifier>.Entry>,
                  of message: ApplicationMessage, shared: SharedSubscription? = nil) -> OutboundDelivery?
    {
        delivers(through: entry, of: message) ? makeDelivery(through: entry, of: message, shared: shared) : nil
    }

    /// Whether a matching subscription delivers `message`: not when No Local keeps it from the publisher. The
    /// routing loops ask this apart from `makeDelivery`: a delivery handed back as an optional was destroyed through
    /// the run-time's generic value witnesses, ~100 instructions per delivery (7% of the broker core's fan-out).
    @inline(__always)
    func delivers(through entry: UnsafePointer<SubscriptionIndex<ClientIdentifier>.Entry>,
                  of message: ApplicationMessage) -> Bool
    {
        !(entry.pointee.options.noLocal && entry.pointee.subscriber == message.publisher)
    }

    /// What a matching subscription that delivers `message` delivers.
    @inline(__always)
    func makeDelivery(through entry: UnsafePointer<SubscriptionIndex<ClientIdentifier>.Entry>,
                      of message: ApplicationMessage, shared: SharedSubscription? = nil) -> OutboundDelivery
    {
        let options = entry.pointee.options
        // The retain flag is kept only with Retain As Published [MQTT-3.3.1-12, MQTT-3.3.1-13].
        return OutboundDelivery(
            message: message, qos: outgoingQoS(message.qos, granted: options.qos),
            retain: options.retainAsPublished && message.retain,
            subscriptionIdentifiers: entry.pointee.identifier.map { [$0] } ?? [], sharedSubscription: shared)
    }

    /// The QoS a message is delivered at: min(published QoS, granted QoS) [MQTT-3.8.4-8], or the granted QoS with
    /// `upgradeOutgoingQoS`.
    func outgoingQoS(_ published: QoS, granted: QoS) -> QoS {
        settings.upgradeOutgoingQoS ? granted : min(published, granted)
    }

    /// Picks one member of a shared subscription group: round robin over the members in the index's order,
    /// skipping members whose client is not connected while a connected one exists.
    func pickShareMember(_ key: String, _ members: SubscriptionIndex<ClientIdentifier>.ShareGroupMembers)
        -> SubscriptionIndex<ClientIdentifier>.Entry
    {
        let cursor = shareCursors[key, default: 0]
        shareCursors[key] = cursor &+ 1
        let start = members.startIndex + cursor % members.count
        for offset in 0..<members.count {
            let member = members[members.startIndex + (start - members.startIndex + offset) % members.count]
            if sessions.withSession(at: member.sessionSlot, member.subscriber, { $0.connection != nil }) == true {
                return member
            }
        }
        return members[start]
    }

    /// Gives a message that a shared subscription member's ended session still owed to another member of the
    /// same group (section 4.8.2), if the group has one left.
    func redeliverToShareGroup<Output: BrokerOutput>(_ delivery: OutboundDelivery, now: NIODeadline,
                                                     output: inout Output)
    {
        guard let shared = delivery.sharedSubscription else { return }
        var target: SubscriptionIndex<ClientIdentifier>.Entry?
        subscriptionIndex.forEachMatch(topicName: delivery.message.topic) { match in
            if case .shared(let group, let filter, let members) = match, target == nil,
                group == shared.shareName, filter == shared.topicFilter
            {
                target = pickShareMember(group + "/" + filter, members)
            }
        }
        guard let member = target, let owed = self.delivery(through: member, of: delivery.message, shared: shared)
        else {
            statistics.recordDrop(.sessionEnded)
            return
        }
        deliver(owed, to: member.subscriber, in: member.sessionSlot, now: now, output: &output)
    }

    // MARK: Outbound delivery and acknowledgements

    /// The number of QoS 1 and 2 messages that may be in flight to the session's client.
    /// Whether one more QoS 1 or 2 message with `size` payload bytes fits the session's window: the count (above)
    /// and, with `max_inflight_bytes`, the payload bytes in flight (a message alone always fits, as in Mosquitto).
    func hasInflightRoom(_ session: ClientSession, adding size: Int) -> Bool {
        guard session.inflight.count < inflightWindow(session) else { return false }
        guard settings.maximumInflightBytes > 0, !session.inflight.isEmpty else { return true }
        return session.inflight.payloadBytes + size <= settings.maximumInflightBytes
    }

    func inflightWindow(_ session: ClientSession) -> Int {
        let own = settings.maximumInflightMessages > 0 ? settings.maximumInflightMessages : Int.max
        return min(session.receiveMaximum, own)
    }

    /// Sends now if the client is connected and the window has room, else queues within the session's limit.
    /// `clientID` is evaluated only when `slot` is stale (see `SessionTable.withSession(at:_:_:)`).
    func deliver<Output: BrokerOutput>(_ delivery: OutboundDelivery, to clientID: @autoclosure () -> ClientIdentifier,
                                       in slot: SessionSlot = .none, now: NIODeadline, output: inout Output)
    {
        // In place: a copy of the session would copy its whole queue at the first append.
        sessions.withSession(at: slot, clientID()) { deliver(delivery, session: &$0, now: now, output: &output) }
    }

    func deliver<Output: BrokerOutput>(_ delivery: OutboundDelivery, session: inout ClientSession,
                                       now: NIODeadline, output: inout Output)
    {
        // Whatever filter matched, a client receives only topics it may read.
        guard session.access.mayReceive(topic: delivery.message.topic) else { return }
        if session.connection != nil && session.queuedCount == 0
            && (delivery.qos == .atMostOnce
                || hasInflightRoom(session, adding: delivery.message.payloadSize))
        {
            send(delivery, session: &session, now: now, output: &output)
            return
        }
        if delivery.qos == .atMostOnce && session.connection == nil && !settings.queueQoS0Messages {
            statistics.recordDrop(.offlineQoS0)
            return
        }
        let size = delivery.message.payloadSize
        if (settings.maximumQueuedMessages > 0 && session.queuedCount >= settings.maximumQueuedMessages)
            || (settings.maximumQueuedBytes > 0 && session.queuedBytes + size > settings.maximumQueuedBytes)
            || (settings.maximumQueuedMessagesInTotal > 0
                && statistics.messagesQueued >= settings.maximumQueuedMessagesInTotal)
        {
            session.droppedMessages += 1
            statistics.recordDrop(.queueFull)
            statistics.queuedMessagesDropped += 1
        } else {
            var delivery = delivery
            delivery.queuedAt = now
            if session.isStored && recordsStoreChanges {
                delivery.storeSequence = nextSequence()
                record(.messageQueued(clientID: session.clientID.string, StoredQueuedMessage(
                    sequence: delivery.storeSequence, delivery: storedDelivery(delivery))))
            }
            enqueue(delivery, in: &session)
            if session.connection != nil && session.queuedCount >= flowControlMark {
                congestedByRoute = session.clientID
            }
        }
    }

    /// Sends one delivery to the connected client: a packet identifier for QoS 1 and 2, the size check against
    /// the client's Maximum Packet Size (a message too large for it is dropped for it [MQTT-3.1.2-25]).
    func send<Output: BrokerOutput>(_ delivery: OutboundDelivery, session: inout ClientSession, now: NIODeadline,
                                    output: inout Output)
    {
        guard let id = session.connection else { return }
        // A subscriber that does not read gets no more QoS 0 until its socket drains (docs/limits.md).
        if delivery.qos == .atMostOnce && !output.isWritable(id) {
            statistics.recordDrop(.slowConsumer)
            return
        }
        // Expired [MQTT-3.3.2-5], or not readable: a queued message may predate a resumption under another user.
        if delivery.message.isExpired(at: now) || !session.access.mayReceive(topic: delivery.message.topic) {
            statistics.recordDrop(delivery.message.isExpired(at: now) ? .expired : .notAuthorized)
            return
        }
        // The client's mount point comes off the topic; a topic outside it (a subscription made through another
        // listener) is not for this client.
        var droppedPrefix = 0
        if !session.mountPoint.isEmpty {
            guard let prefix = session.mountPoint.bytesToDrop(from: delivery.message.topic) else {
                statistics.recordDrop(.notAuthorized)
                return
            }
            droppedPrefix = prefix
        }
        let packetIdentifier: UInt16? = delivery.qos == .atMostOnce ? nil : session.allocatePacketIdentifier()
        // The subscription identifiers added apart, when there are any: passed to the initializer, the array was
        // copied and destroyed through the run-time's generic value witnesses (~65 instructions per delivery).
        var publish = OutgoingPublish(
            message: delivery.message, qos: delivery.qos, retain: delivery.retain, packetIdentifier: packetIdentifier,
            now: now)
        if !delivery.subscriptionIdentifiers.isEmpty {
            publish.addSubscriptionIdentifiers(delivery.subscriptionIdentifiers)
        }
        if droppedPrefix > 0 { publish.dropTopicPrefix(droppedPrefix) }
        let newAlias = session.acceptsTopicAliases ? useOutboundAlias(&publish, connection: id) : nil
        // The size is computed only for clients that set a Maximum Packet Size (encoding computes it again).
        if session.maximumPacketSize < MQTTPacketDecoder.largestPossiblePacketSize
            && publish.encodedSize(version: session.protocolVersion) > session.maximumPacketSize
        {
            statistics.recordDrop(.packetTooLarge)
            return
        }
        if let packetIdentifier {
            // Its acknowledgement must be read (publisher flow control never holds a client that owes one).
            if !heldPublishers.isEmpty { releaseHeldPublisher(id, now: now, output: &output) }
            session.inflight.append(delivery, packetIdentifier: packetIdentifier)
            if session.isStored && recordsStoreChanges {
                record(.inflightSaved(clientID: session.clientID.string, StoredInflight(
                    packetIdentifier: packetIdentifier, order: nextSequence(), released: false,
                    delivery: storedDelivery(delivery))))
            }
        }
        if let newAlias { connections[id]?.outboundTopicAliases[newAlias.topic] = newAlias.alias }
        statistics.recordSent(delivery.qos, payloadBytes: delivery.message.payloadSize)
        statistics.deliveryLatency.record(delivery.queuedAt.map { now - $0 } ?? .nanoseconds(0))
        output.send(publish, to: id)
    }

    /// Gives the PUBLISH an outbound topic alias for clients that accept them (Topic Alias Maximum above 0): the
    /// first message on a topic sets an alias, later ones send it with an empty topic [MQTT-3.3.2-12]. Aliases
    /// are per connection [MQTT-3.3.2-7]; once the client's maximum is used up, new topics go without one.
    /// A newly set alias is returned for the caller to record once the packet is really sent.
    func useOutboundAlias(_ publish: inout OutgoingPublish, connection id: ConnectionID)
        -> (topic: ExactString, alias: UInt16)?
    {
        // In place, as in `handlePublish`: this runs once per delivery.
        guard let index = connections.index(forKey: id), connections.values[index].outboundTopicAliasMaximum > 0
        else { return nil }
        let topic = ExactString(publish.message.topic)
        let aliases = connections.values[index].outboundTopicAliases.count
        if let alias = connections.values[index].outboundTopicAliases[topic] {
            publish.useTopicAlias(alias, known: true)
            return nil
        }
        guard aliases < Int(connections.values[index].outboundTopicAliasMaximum) else { return nil }
        let alias = UInt16(aliases + 1)
        publish.useTopicAlias(alias, known: false)
        return (topic, alias)
    }

    /// Moves queued messages into the window while it has room.
    func drainQueue<Output: BrokerOutput>(_ clientID: ClientIdentifier, now: NIODeadline, output: inout Output) {
        withSession(clientID) { drainQueue(session: &$0, now: now, output: &output) }
    }

    /// Runs `body` on the client's session in place; nil when there is none. Reading a field through
    /// `sessions.values[index]` copies the whole session out first (a retain and a release of each of its
    /// collections); this was a session copy per acknowledgement, twice.
    @inline(__always)
    func withSession<Result>(_ clientID: ClientIdentifier, _ body: (inout ClientSession) -> Result) -> Result? {
        sessions.withSession(clientID, body)
    }

    func drainQueue<Output: BrokerOutput>(session: inout ClientSession, now: NIODeadline, output: inout Output)
    {
        guard session.connection != nil else { return }
        while let next = session.queue.first {
            if next.qos != .atMostOnce && !hasInflightRoom(session, adding: next.message.payloadSize) {
                break
            }
            dequeueFirst(from: &session)
            if session.isStored {
                record(.messageDequeued(clientID: session.clientID.string, sequence: next.storeSequence))
            }
            send(next, session: &session, now: now, output: &output)
        }
        releasePublishersIfDrained(session.clientID, queued: session.queuedCount, output: &output)
    }

    func handlePubAck<Output: BrokerOutput>(_ ack: PublishAckPacket, clientID: ClientIdentifier, in slot: SessionSlot,
                                            now: NIODeadline, output: inout Output)
    {
        sessions.withSession(at: slot, clientID) { session in
            guard session.inflight.qosAndStage(of: ack.packetIdentifier)?.qos == .atLeastOnce else { return }
            removeInflight(ack.packetIdentifier, from: &session)
            drainQueue(session: &session, now: now, output: &output)
        }
    }

    /// Removes an acknowledged message from the session's window (and from the store).
    func removeInflight(_ packetIdentifier: UInt16, from session: inout ClientSession) {
        session.inflight.remove(packetIdentifier)
        if session.isStored {
            record(.inflightDeleted(clientID: session.clientID.string, packetIdentifier: packetIdentifier))
        }
    }

    func handlePubRec<Output: BrokerOutput>(_ ack: PublishAckPacket, clientID: ClientIdentifier, in slot: SessionSlot,
                                            now: NIODeadline, output: inout Output)
    {
        sessions.withSession(at: slot, clientID) { session in
            guard let id = session.connection else { return }
            guard session.inflight.qosAndStage(of: ack.packetIdentifier)?.qos == .exactlyOnce else {
                // Unknown identifier: MQTT 5 answers PUBREL 0x92 (section 4.3.3).
                let reasonCode: ReasonCode = session.protocolVersion == .v5 ? .packetIdentifierNotFound : .success
                output.send(.pubrel(PublishAckPacket(packetIdentifier: ack.packetIdentifier, reasonCode: reasonCode)),
                            to: id)
                return
            }
            if !ack.reasonCode.isSuccess {
                // A failed PUBREC ends the exchange [MQTT-4.3.3-4 note]: the identifier is free again.
                removeInflight(ack.packetIdentifier, from: &session)
                drainQueue(session: &session, now: now, output: &output)
                return
            }
            session.inflight.setStage(.released, of: ack.packetIdentifier)
            if session.isStored {
                record(.inflightReleased(clientID: clientID.string, packetIdentifier: ack.packetIdentifier))
            }
            output.send(.pubrel(PublishAckPacket(packetIdentifier: ack.packetIdentifier)), to: id)  // [MQTT-4.3.3-4]
        }
    }

    func handlePubComp<Output: BrokerOutput>(_ ack: PublishAckPacket, clientID: ClientIdentifier,
                                             in slot: SessionSlot, now: NIODeadline, output: inout Output)
    {
        sessions.withSession(at: slot, clientID) { session in
            guard session.inflight.qosAndStage(of: ack.packetIdentifier)?.stage == .released else { return }
            removeInflight(ack.packetIdentifier, from: &session)
            drainQueue(session: &session, now: now, output: &output)
        }
    }
}
