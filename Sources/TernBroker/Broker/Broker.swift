import MQTTCore
import NIOCore

/// The broker's brain: every connection, session, subscription and retained message, and every MQTT rule about
/// them, with no sockets and no clock of its own.
///
/// The server layer calls the entry points (`connectionOpened`, `receive`, `decodingFailed`, `connectionClosed`,
/// `tick`) with the current time, and performs what the broker asks through a `BrokerOutput`. All calls must come
/// from one thread (the server keeps the broker on one event loop); the broker takes no locks.
public final class Broker {
    public let settings: BrokerSettings
    public internal(set) var statistics = BrokerStatistics()

    var connections: [ConnectionID: ClientConnection] = [:]
    var sessions = SessionTable()
    var subscriptionIndex = SubscriptionIndex<ClientIdentifier>()
    /// The nodes of `subscriptionIndex` that matched recent topics (`route` asks it for every message).
    var topicMatches = TopicMatchCache<ClientIdentifier>()
    var retainedMessages = RetainedIndex<ApplicationMessage>()
    /// Wills waiting for their Will Delay Interval, by client identifier [MQTT-3.1.3-9].
    var delayedWills: [ClientIdentifier: (deadline: NIODeadline, message: ApplicationMessage)] = [:]
    /// Round-robin position per shared subscription (`group` + filter).
    var shareCursors: [String: Int] = [:]
    /// Connections opened in the current one-second window, for `maximumConnectionRate`.
    var connectionRate: (windowStart: NIODeadline, count: Int) = (.uptimeNanoseconds(0), 0)
    /// `route`'s table of recipients, empty between messages and kept for its capacity.
    var routeTargets = RouteTargets()
    /// The connection the last packet came from (see `receive`).
    var lastReceivedFrom: ClientConnection?
    /// Publisher flow control (`Broker+FlowControl.swift`): the connections not read, each with the subscriber
    /// whose queue it filled and since when, and that subscriber's held publishers.
    var heldPublishers: [ConnectionID: HeldPublisher] = [:]
    var publishersHeldBy: [ClientIdentifier: [ConnectionID]] = [:]
    /// Set by a delivery that left a live subscriber's queue at the flow-control mark, for `handlePublish`.
    var congestedByRoute: ClientIdentifier?

    /// Whether the broker records its durable changes for a store (see `takeStoreChanges`).
    public var recordsStoreChanges = false
    /// Converts deadlines to the wall-clock times a store keeps.
    public var storeClock = StoreClock()
    /// While false, the store cannot keep what QoS 1 and 2 publications need: they are refused (MQTT 5: reason
    /// code 0x97 Quota Exceeded; 3.1.1: the connection is closed) rather than acknowledged.
    public var acceptsDurableMessages = true
    var storeChanges: [StoreChange] = []
    /// Retained messages of SUBSCRIBEs still to send, by subscriber (see `continueRetained`).
    var pendingRetained: [ClientIdentifier: [PendingRetained]] = [:]
    /// Pages of stored queues to read (see `takeQueuePageRequests`).
    var queuePageRequests: [QueuePageRequest] = []
    /// Orders queued and inflight messages in the store.
    var nextStoreSequence: UInt64 = 1

    public init(settings: BrokerSettings = BrokerSettings()) {
        self.settings = settings
    }

    /// The number of connections that completed CONNECT.
    public var connectedClientCount: Int { connections.values.filter { $0.clientID != nil }.count }
    /// The number of sessions, connected or not.
    public var sessionCount: Int { sessions.count }
    public var retainedMessageCount: Int { retainedMessages.count }
    public var subscriptionCount: Int { subscriptionIndex.count }

    // MARK: Entry points

    /// A network connection was accepted; it must send CONNECT within the connect timeout. With
    /// `requiresAuthentication`, its CONNECT is checked through `BrokerOutput.authenticate` before it is accepted.
    /// - Parameters:
    ///   - clientIdentifiers: the listener's own rules for client identifiers; nil uses the settings'.
    ///   - protocolLimits: the listener's own Maximum QoS, Topic Alias Maximum and mount point; nil uses the
    ///     settings' (and no mount point).
    public func connectionOpened(_ id: ConnectionID, now: NIODeadline, requiresAuthentication: Bool = false,
                                 clientIdentifiers: ClientIdentifierRules? = nil,
                                 protocolLimits: ListenerProtocolLimits? = nil)
    {
        let connection = ClientConnection(
            id: id, state: .awaitingConnect(deadline: now + .seconds(settings.connectTimeout)),
            requiresAuthentication: requiresAuthentication, lastActivity: now)
        connection.clientIdentifiers = clientIdentifiers
        connection.maximumQoS = protocolLimits?.maximumQoS ?? settings.maximumQoS
        connection.topicAliasMaximum = protocolLimits?.topicAliasMaximum ?? settings.topicAliasMaximum
        connection.mountPoint = protocolLimits?.mountPoint ?? .none
        connection.admissionRefusal = admissionRefusal(now: now)
        connections[id] = connection
    }

    /// A packet arrived on a connection.
    /// Consumed: a PUBLISH's topic, payload and properties move into its message rather than being copied (a retain
    /// and a release of each per message).
    public func receive<Output: BrokerOutput>(_ packet: consuming Packet, from id: ConnectionID, now: NIODeadline,
                                              output: inout Output)
    {
        // A read brings many packets from one connection: the connection of the last one saves a hashed lookup.
        let connection: ClientConnection
        if let last = lastReceivedFrom, last.id == id, last.isOpen {
            connection = last
        } else {
            guard let found = connections[id] else { return }
            lastReceivedFrom = found
            connection = found
        }
        connection.lastActivity = now
        switch connection.state {
        case .awaitingConnect(let deadline):
            guard case .connect(let connect) = packet else {
                // The first packet must be CONNECT [MQTT-3.1.0-1]: close without a CONNACK.
                closeUnconnected(id, output: &output)
                return
            }
            if let refusal = connectRefusal(connect, connection: connection) {
                connection.protocolVersion = connect.protocolVersion
                refuseConnect(refusal, connection: id, output: &output)
                return
            }
            guard connection.requiresAuthentication else {
                handleConnect(connect, connection: id, now: now, output: &output)
                return
            }
            startAuthentication(connect, connection: id, deadline: deadline, output: &output)
        case .authenticating(let connect, _, _) where connection.authenticationMethod != nil:
            receiveDuringExchange(packet, connect: connect, connection: id, output: &output)
        case .authenticating(let connect, var pending, let deadline):
            // Held until the CONNECT is accepted; a client that floods meanwhile is cut off.
            guard pending.count < 1000 else {
                closeUnconnected(id, output: &output)
                return
            }
            pending.append(packet)
            connection.state = .authenticating(connect, pending: pending, deadline: deadline)
        case .connected(let clientID):
            receive(packet, from: connection, clientID: clientID, now: now, output: &output)
        }
    }

    /// The server's answer to an `AuthenticationRequest`: accept the CONNECT (and process what followed it),
    /// or refuse it with a CONNACK and close.
    public func authenticationCompleted<Output: BrokerOutput>(_ id: ConnectionID, result: AuthenticationResult,
                                                              now: NIODeadline, output: inout Output)
    {
        if let connection = connections[id], let clientID = connection.clientID {
            reauthenticationCompleted(id, clientID: clientID, result: result, now: now, output: &output)
            return
        }
        guard let connection = connections[id],
            case .authenticating(let connect, let pending, let deadline) = connection.state
        else { return }
        switch result {
        case .refused(let reasonCode):
            output.send(.connack(ConnAckPacket(reasonCode: reasonCode)), to: id)
            statistics.recordRefusal(reasonCode)
            closeUnconnected(id, output: &output)
        case .continueAuthentication(let data):
            challenge(id, data: data, output: &output)
        case .accepted(let username, let accessControl, let authenticationData):
            connections[id]?.username = username
            connections[id]?.accessControl = accessControl
            connections[id]?.state = .awaitingConnect(deadline: deadline)
            handleConnect(connect, connection: id, now: now, authenticationData: authenticationData, output: &output)
            for packet in pending {
                guard let connection = connections[id], let clientID = connection.clientID else { return }
                receive(packet, from: connection, clientID: clientID, now: now, output: &output)
            }
        }
    }

    /// A packet from a connected client.
    func receive<Output: BrokerOutput>(_ packet: consuming Packet, from connection: ClientConnection,
                                       clientID: ClientIdentifier, now: NIODeadline, output: inout Output)
    {
        let id = connection.id
        if exceedsUserPropertyLimit(packet) {
            return protocolError(.quotaExceeded, connection: id, clientID: clientID, now: now, output: &output)
        }
        switch consume packet {
        case .connect:
            protocolError(.protocolError, connection: id, clientID: clientID, now: now, output: &output)  // [MQTT-3.1.0-2]
        case .publish(let publish):
            handlePublish(publish, connection: connection, clientID: clientID, now: now, output: &output)
        case .puback(let ack):
            handlePubAck(ack, clientID: clientID, in: connection.sessionSlot, now: now, output: &output)
        case .pubrec(let ack):
            handlePubRec(ack, clientID: clientID, in: connection.sessionSlot, now: now, output: &output)
        case .pubrel(let ack):
            handlePubRel(ack, connection: id, clientID: clientID, output: &output)
        case .pubcomp(let ack):
            handlePubComp(ack, clientID: clientID, in: connection.sessionSlot, now: now, output: &output)
        case .subscribe(var subscribe):
            if !connection.mountPoint.isEmpty {
                for index in subscribe.subscriptions.indices {
                    subscribe.subscriptions[index].topicFilter =
                        connection.mountPoint.filter(subscribe.subscriptions[index].topicFilter)
                }
            }
            handleSubscribe(subscribe, connection: id, clientID: clientID, now: now, output: &output)
        case .unsubscribe(var unsubscribe):
            if !connection.mountPoint.isEmpty {
                unsubscribe.topicFilters = unsubscribe.topicFilters.map(connection.mountPoint.filter)
            }
            handleUnsubscribe(unsubscribe, connection: id, clientID: clientID, output: &output)
        case .pingreq:
            output.send(.pingresp, to: id)  // [MQTT-3.12.4-1]
        case .disconnect(let disconnect):
            handleDisconnect(disconnect, connection: id, clientID: clientID, now: now, output: &output)
        case .auth(let auth):
            handleAuth(auth, connection: id, clientID: clientID, now: now, output: &output)
        case .connack, .suback, .unsuback, .pingresp:
            // Sent by servers only.
            protocolError(.protocolError, connection: id, clientID: clientID, now: now, output: &output)
        }
    }

    /// The bytes from a connection could not be decoded: answer as the specification says and close.
    /// `protocolVersion` is the decoder's version, known once a CONNECT's protocol level was read.
    public func decodingFailed<Output: BrokerOutput>(_ error: MQTTDecodingError, connection id: ConnectionID,
                                                     protocolVersion: ProtocolVersion?, now: NIODeadline,
                                                     output: inout Output)
    {
        guard let connection = connections[id] else { return }
        if let clientID = connection.clientID {
            // Some decoding errors name a reason only CONNACK has (a second CONNECT with an unknown protocol
            // level: 0x84); DISCONNECT then says Protocol Error.
            let reasonCode = error.reasonCode.isValid(in: .disconnect) ? error.reasonCode : .protocolError
            protocolError(reasonCode, connection: id, clientID: clientID, now: now, output: &output)
            return
        }
        let refusal: ReasonCode?
        switch (protocolVersion, error) {
        case (.v5, _):
            // A CONNACK with the reason code, then close [MQTT-3.1.4-1, MQTT-3.2.2-8].
            refusal = error.reasonCode.isValid(in: .connack) ? error.reasonCode : .protocolError
        case (.some, .unsupportedProtocolLevel), (.none, .unsupportedProtocolLevel):
            // A 3.1.1 server answers an unknown level with return code 1 [MQTT-3.1.2-2].
            refusal = .unsupportedProtocolVersion
        default:
            refusal = nil
        }
        if let refusal { output.send(.connack(ConnAckPacket(reasonCode: refusal)), to: id) }
        statistics.recordRefusal(refusal)
        closeUnconnected(id, output: &output)
    }

    /// The network connection closed (by the peer, by an error, or after the broker asked to close it).
    public func connectionClosed<Output: BrokerOutput>(_ id: ConnectionID, now: NIODeadline, output: inout Output) {
        guard let connection = connections[id] else { return }
        if let clientID = connection.clientID {
            // Closed without DISCONNECT: the will is published [MQTT-3.1.2-8].
            endConnection(id, clientID: clientID, publishWill: true, now: now, output: &output)
        } else {
            removeConnection(id)
        }
    }

    /// Time passed: enforces connect timeouts and keep alive, publishes delayed wills, expires sessions.
    public func tick<Output: BrokerOutput>(now: NIODeadline, output: inout Output) {
        for connection in Array(connections.values) {
            switch connection.state {
            case .awaitingConnect(let deadline), .authenticating(_, _, let deadline):
                if deadline <= now { closeUnconnected(connection.id, output: &output) }
            case .connected(let clientID):
                if let deadline = connection.reauthenticationDeadline, deadline <= now {
                    protocolError(.notAuthorized, connection: connection.id, clientID: clientID, now: now,
                                  output: &output)
                    continue
                }
                // One and a half times the keep alive without a packet ends the connection (section 3.1.2.10);
                // not while the broker itself does not read it.
                guard connection.keepAlive > 0, heldPublishers[connection.id] == nil else { continue }
                let limit = TimeAmount.milliseconds(Int64(connection.keepAlive) * 1500)
                if now - connection.lastActivity >= limit {
                    if connection.protocolVersion == .v5 {
                        output.send(.disconnect(DisconnectPacket(reasonCode: .keepAliveTimeout)), to: connection.id)
                    }
                    endConnection(connection.id, clientID: clientID, publishWill: true, now: now, output: &output)
                }
            }
        }
        if !heldPublishers.isEmpty { releaseLongHeldPublishers(now: now, output: &output) }
        for (clientID, will) in delayedWills where will.deadline <= now {
            delayedWills[clientID] = nil
            recordSession(clientID)
            route(will.message, now: now, output: &output)
        }
        for (clientID, session) in sessions {
            if let expiresAt = session.expiresAt, expiresAt <= now {
                statistics.sessionsExpired += 1
                endSession(clientID, now: now, output: &output)
            }
        }
    }

    // MARK: Ending connections and sessions

    /// Forgets a connection: it is closed, or closing.
    func removeConnection(_ id: ConnectionID) {
        connections.removeValue(forKey: id)?.isOpen = false
        if !heldPublishers.isEmpty { forgetHeldPublisher(id) }
    }

    /// Closes a connection that never completed CONNECT.
    func closeUnconnected<Output: BrokerOutput>(_ id: ConnectionID, output: inout Output) {
        removeConnection(id)
        output.close(id)
    }

    /// Ends a connected client's connection for a protocol violation: DISCONNECT with the reason code for MQTT 5,
    /// a plain close for 3.1.1 [MQTT-4.13.1-1], and the will is published.
    func protocolError<Output: BrokerOutput>(_ reasonCode: ReasonCode, connection id: ConnectionID,
                                             clientID: ClientIdentifier, now: NIODeadline, output: inout Output)
    {
        if connections[id]?.protocolVersion == .v5 {
            output.send(.disconnect(DisconnectPacket(reasonCode: reasonCode)), to: id)
        }
        endConnection(id, clientID: clientID, publishWill: true, now: now, output: &output)
    }

    /// Detaches the session from its connection and closes it; publishes or schedules the will if asked; ends
    /// the session if it does not outlive the connection.
    func endConnection<Output: BrokerOutput>(_ id: ConnectionID, clientID: ClientIdentifier, publishWill: Bool,
                                             now: NIODeadline, output: inout Output)
    {
        removeConnection(id)
        output.close(id)
        // In place: a copy taken out and put back would copy the session and look its client up twice more.
        let ended = sessions.withSession(clientID) { session -> (will: LastWill?, expiryInterval: UInt32)? in
            guard session.connection == id else { return nil }
            session.connection = nil
            // A will goes out only to a topic its client may publish to.
            let will = session.will.flatMap { session.access.mayPublish(topic: $0.topic) ? $0 : nil }
            session.will = nil
            if session.expiryInterval != UInt32.max {
                session.expiresAt = now + .seconds(Int64(session.expiryInterval))
            }
            return (will, session.expiryInterval)
        }
        guard let (will, expiryInterval) = ended ?? nil else { return }
        // Offline, its queue no longer drains: its publishers are read again (the queue limits apply).
        releasePublishers(heldBy: clientID, output: &output)
        if publishWill, let will {
            let message = ApplicationMessage(will: will, publisher: clientID, now: now)
            let delay = min(will.properties.willDelayInterval ?? 0, expiryInterval)
            if delay == 0 {
                route(message, now: now, output: &output)
            } else {
                delayedWills[clientID] = (now + .seconds(Int64(delay)), message)
            }
        }
        if expiryInterval == 0 {
            endSession(clientID, now: now, output: &output)
        } else {
            queuePendingRetained(clientID, now: now, output: &output)
            recordSession(clientID)
        }
    }

    /// Discards a session: its subscriptions and queued messages. A will still delayed is published now, since
    /// it is due when the session ends [MQTT-3.1.3-9].
    func endSession<Output: BrokerOutput>(_ clientID: ClientIdentifier, now: NIODeadline, output: inout Output) {
        guard let session = sessions.removeValue(forKey: clientID) else { return }
        // Here and below, an empty table is not hashed into: a lookup hashes the client identifier (SipHash) even
        // in an empty dictionary.
        if !pendingRetained.isEmpty { pendingRetained[clientID] = nil }
        statistics.messagesQueued -= session.queuedCount
        if session.isStored { record(.sessionDeleted(clientID: clientID.string)) }
        if !session.subscriptions.isEmpty { subscriptionIndex.removeAll(for: clientID) }
        // What a shared subscription gave this session and it never acknowledged goes to another member: in
        // flight, queued, and queued in the store only (kept in memory until read back, also across a restart).
        let owed = session.inflight.messages.filter { $0.stage == .published }.map(\.delivery) + session.queue
            + session.sharedInStoreOnly
        for delivery in owed {
            if delivery.passesToShareGroup {
                redeliverToShareGroup(delivery, now: now, output: &output)
            } else {
                statistics.recordDrop(.sessionEnded)
            }
        }
        statistics.recordDrop(.sessionEnded, count: session.queuedInStoreOnly - session.sharedInStoreOnly.count)
        if !delayedWills.isEmpty, let will = delayedWills.removeValue(forKey: clientID) {
            route(will.message, now: now, output: &output)
        }
    }
}

extension Broker {
    /// The server is stopping: MQTT 5 clients get DISCONNECT 0x8B, every connection closes, and no will is
    /// published (the clients did nothing wrong).
    /// Sessions that outlive their connection start expiring at `now`.
    public func shutdown<Output: BrokerOutput>(now: NIODeadline = .now(), output: inout Output) {
        for connection in Array(connections.values) {
            if connection.clientID != nil && connection.protocolVersion == .v5 {
                output.send(.disconnect(DisconnectPacket(reasonCode: .serverShuttingDown)), to: connection.id)
            }
            if let clientID = connection.clientID {
                sessions[clientID]?.will = nil
                sessions[clientID]?.connection = nil
                if let session = sessions[clientID], session.expiryInterval != UInt32.max {
                    sessions[clientID]?.expiresAt = now + .seconds(Int64(session.expiryInterval))
                }
                if sessions[clientID]?.expiryInterval ?? 0 > 0 { queuePendingRetained(clientID, now: now, output: &output) }
                if sessions[clientID]?.isStored == true { recordSession(clientID) }
            }
            removeConnection(connection.id)
            output.close(connection.id)
        }
    }
}

extension Broker {
    /// The client identifier a connection was accepted with (the assigned one for an empty CONNECT identifier),
    /// or nil before CONNECT succeeded.
    public func clientID(of connection: ConnectionID) -> ClientIdentifier? {
        connections[connection]?.clientID
    }
}

extension Broker {
    /// The server reloaded its security files: `decide` is asked about every connected client (its connection,
    /// client identifier and user name). A client still accepted gets its access rules compiled anew from the
    /// returned list; a refused one is disconnected (MQTT 5: DISCONNECT with the reason code) and its will is
    /// published if it may still publish there.
    public func reauthorize<Output: BrokerOutput>(
        now: NIODeadline, output: inout Output,
        _ decide: (_ connection: ConnectionID, _ clientID: String, _ username: String?) -> AuthenticationResult
    ) {
        for connection in Array(connections.values) {
            guard let clientID = connection.clientID else { continue }
            switch decide(connection.id, clientID.string, connection.username) {
            case .accepted(_, let accessControl, _):
                connections[connection.id]?.accessControl = accessControl
                let rules = accessControl?.rules(clientID: clientID.string, username: connection.username)
                    ?? .unrestricted
                sessions[clientID]?.access = rules
                connection.publishesUnrestricted = !rules.isRestricted
            case .refused(let reasonCode):
                if connection.protocolVersion == .v5 {
                    output.send(.disconnect(DisconnectPacket(reasonCode: reasonCode)), to: connection.id)
                }
                endConnection(connection.id, clientID: clientID, publishWill: true, now: now, output: &output)
            case .continueAuthentication:
                break  // not an answer to a reload
            }
        }
    }
}
