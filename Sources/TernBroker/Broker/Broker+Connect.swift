import MQTTCore
import NIOCore

extension Broker {
    func handleConnect<Output: BrokerOutput>(_ connect: ConnectPacket, connection id: ConnectionID,
                                             now: NIODeadline, authenticationData: ByteBuffer? = nil,
                                             output: inout Output)
    {
        // One lookup for the whole CONNECT: the connection is a class, read and changed in place below.
        guard let connection = connections[id] else { return }
        let version = connect.protocolVersion
        connection.protocolVersion = version

        func refuse(_ reasonCode: ReasonCode) {
            // A refused CONNECT gets a CONNACK with the reason and the connection closes [MQTT-3.2.2-7].
            output.send(.connack(ConnAckPacket(reasonCode: reasonCode)), to: id)
            statistics.recordRefusal(reasonCode)
            closeUnconnected(id, output: &output)
        }

        // Client identifier (section 3.1.3.1).
        var clientID = ClientIdentifier(connect.clientIdentifier)
        var assignedClientID: String?
        if connect.clientIdentifier.isEmpty {
            // 3.1.1 allows an empty identifier only with Clean Session [MQTT-3.1.3-7, MQTT-3.1.3-8]; 3.1 never.
            let rules = connection.clientIdentifiers
            let allowed = (rules?.allowZeroLength ?? settings.allowZeroLengthClientID)
                && (version == .v5 || (version == .v3_1_1 && connect.cleanStart))
            guard allowed else { return refuse(.clientIdentifierNotValid) }
            clientID = ClientIdentifier(makeClientIdentifier(prefix: rules?.assignedPrefix))
            if version == .v5 { assignedClientID = clientID.string }  // [MQTT-3.2.2-16]
        }
        if let prefix = settings.requiredClientIDPrefix, !clientID.string.hasPrefix(prefix) {
            return refuse(.notAuthorized)
        }
        if connection.clientIdentifiers?.usesUsername == true {
            // The user name the listener's authenticator accepted; without one, the CONNECT's (not checked).
            guard let username = connection.username ?? (connection.requiresAuthentication ? nil : connect.username)
            else {
                return refuse(.notAuthorized)
            }
            clientID = ClientIdentifier(username)
            if assignedClientID != nil { assignedClientID = username }
        }

        // Enhanced authentication (section 4.12) runs through the listener's authenticator; without one no method
        // is supported: refused rather than ignored [MQTT-4.12.0-1].
        let authenticationMethod = connection.authenticationMethod
        if version == .v5, connect.properties.authenticationMethod != nil, authenticationMethod == nil {
            return refuse(.badAuthenticationMethod)
        }

        let maximumQoS = connection.maximumQoS
        if let will = connect.will {
            if will.qos > maximumQoS { return refuse(.qosNotSupported) }  // [MQTT-3.2.2-12]
            if will.retain && !settings.retainAvailable { return refuse(.retainNotSupported) }  // [MQTT-3.2.2-13]
        }

        let expiryInterval: UInt32 =
            version == .v5
            ? connect.properties.sessionExpiryInterval ?? 0
            : (connect.cleanStart ? 0 : settings.persistentSessionExpiry ?? UInt32.max)

        // A client without a session (every clean start but a reconnection's) costs one lookup of its identifier
        // here, and one to insert its session. `existing` is nil without a session, `.some(nil)` for one offline.
        let existing = sessions.withSession(clientID) { $0.connection }
        var sessionPresent = existing != nil
        // Session takeover: the existing connection is closed [MQTT-3.1.4-3]; MQTT 5 tells it why.
        if let old = existing ?? nil {
            if connections[old]?.protocolVersion == .v5 {
                output.send(.disconnect(DisconnectPacket(reasonCode: .sessionTakenOver)), to: old)
            }
            endConnection(old, clientID: clientID, publishWill: true, now: now, output: &output)
            sessionPresent = sessions.contains(clientID)  // ended with the connection when it expires at once
        }
        // A new connection before the will delay elapsed cancels the delayed will [MQTT-3.1.3-9].
        if !delayedWills.isEmpty { delayedWills[clientID] = nil }

        if connect.cleanStart, sessionPresent {
            endSession(clientID, now: now, output: &output)  // [MQTT-3.1.2-4]
            sessionPresent = false
        }
        // [MQTT-3.2.2-2, MQTT-3.2.2-3]; taken out to change, not copied (its slot stays reserved).
        var session = sessionPresent ? sessions.takeOut(clientID)!
            : ClientSession(clientID: clientID, protocolVersion: version, expiryInterval: expiryInterval)
        session.connection = id
        session.protocolVersion = version
        session.expiryInterval = expiryInterval
        session.expiresAt = nil
        session.will = connect.will
        session.mountPoint = connection.mountPoint
        if !connection.mountPoint.isEmpty, let will = connect.will {
            session.will?.topic = connection.mountPoint.topic(will.topic)
        }
        let username = connection.username
        session.access = connection.accessControl?.rules(clientID: clientID.string, username: username)
            ?? .unrestricted
        connection.publishesUnrestricted = !session.access.isRestricted
        session.receiveMaximum = Int(connect.properties.receiveMaximum ?? 65_535)
        session.maximumPacketSize = connect.properties.maximumPacketSize.map { Int($0) }
            ?? MQTTPacketDecoder.largestPossiblePacketSize
        session.acceptsTopicAliases = version == .v5 && connect.properties.topicAliasMaximum ?? 0 > 0
        connection.sessionSlot = sessions.insert(session)
        recordSession(clientID)

        var keepAlive = connect.keepAlive
        var properties = Properties()
        if version == .v5 {
            if let serverKeepAlive = settings.serverKeepAlive {
                keepAlive = serverKeepAlive
            } else if settings.maximumKeepAlive > 0 && (keepAlive == 0 || keepAlive > settings.maximumKeepAlive) {
                keepAlive = settings.maximumKeepAlive
            }
            if keepAlive != connect.keepAlive { properties.serverKeepAlive = keepAlive }  // [MQTT-3.2.2-21]
            if let assignedClientID { properties.assignedClientIdentifier = assignedClientID }
            if connect.properties.requestResponseInformation == true {
                // The basis of response topics for request/response (section 4.10).
                properties.responseInformation = settings.responseInformationPrefix + clientID.string
            }
            if settings.receiveMaximum != 65_535 { properties.receiveMaximum = settings.receiveMaximum }
            if maximumQoS != .exactlyOnce { properties.maximumQoS = maximumQoS }  // [MQTT-3.2.2-9]
            if !settings.retainAvailable { properties.retainAvailable = false }
            if settings.maximumPacketSize < MQTTPacketDecoder.largestPossiblePacketSize {
                properties.maximumPacketSize = UInt32(clamping: settings.maximumPacketSize)
            }
            if connection.topicAliasMaximum > 0 { properties.topicAliasMaximum = connection.topicAliasMaximum }
            if let authenticationMethod {
                properties.authenticationMethod = authenticationMethod  // [MQTT-4.12.0-5]
                properties.authenticationData = authenticationData
            }
        }
        connection.state = .connected(clientID: clientID)
        connection.keepAlive = keepAlive
        connection.outboundTopicAliasMaximum = version == .v5 ? connect.properties.topicAliasMaximum ?? 0 : 0
        statistics.connectionsAccepted += 1
        output.send(
            .connack(ConnAckPacket(sessionPresent: sessionPresent, reasonCode: .success, properties: properties)),
            to: id)

        if sessionPresent { resumeSession(clientID, now: now, output: &output) }
    }

    /// Re-sends what was in flight, in order, with DUP set, then what was queued [MQTT-4.4.0-1].
    func resumeSession<Output: BrokerOutput>(_ clientID: ClientIdentifier, now: NIODeadline, output: inout Output) {
        guard let session = sessions[clientID], let id = session.connection else { return }
        for element in session.inflight.elements {
            let (packetIdentifier, inflight) = (element.packetIdentifier, session.inflight.message(of: element))
            switch inflight.stage {
            case .published:
                let delivery = inflight.delivery
                var publish = OutgoingPublish(
                    message: delivery.message, qos: delivery.qos, retain: delivery.retain, duplicate: true,
                    packetIdentifier: packetIdentifier, subscriptionIdentifiers: delivery.subscriptionIdentifiers,
                    now: now)
                if !session.mountPoint.isEmpty {
                    // Outside the mount point (sent through another listener before): not this client's to see.
                    guard let prefix = session.mountPoint.bytesToDrop(from: delivery.message.topic) else { continue }
                    publish.dropTopicPrefix(prefix)
                }
                if let newAlias = useOutboundAlias(&publish, connection: id) {
                    connections[id]?.outboundTopicAliases[newAlias.topic] = newAlias.alias
                }
                output.send(publish, to: id)
            case .released:
                output.send(.pubrel(PublishAckPacket(packetIdentifier: packetIdentifier)), to: id)
            }
        }
        drainQueue(clientID, now: now, output: &output)
    }

    func handleDisconnect<Output: BrokerOutput>(_ disconnect: DisconnectPacket, connection id: ConnectionID,
                                                clientID: ClientIdentifier, now: NIODeadline, output: inout Output)
    {
        if let newExpiry = disconnect.properties.sessionExpiryInterval, var session = sessions[clientID] {
            // A session that was to end with the connection cannot be made to outlive it here [MQTT-3.14.2-2].
            if session.expiryInterval == 0 && newExpiry != 0 {
                protocolError(.protocolError, connection: id, clientID: clientID, now: now, output: &output)
                return
            }
            session.expiryInterval = newExpiry
            sessions[clientID] = session
        }
        // A normal DISCONNECT discards the will [MQTT-3.1.2-10]; MQTT 5's 0x04 asks for it to be published.
        let publishWill = disconnect.reasonCode == .disconnectWithWillMessage
        endConnection(id, clientID: clientID, publishWill: publishWill, now: now, output: &output)
    }

    func makeClientIdentifier(prefix: String? = nil) -> String {
        var generator = SystemRandomNumberGenerator()
        let a = generator.next() as UInt64
        let b = generator.next() as UInt64
        func hex(_ value: UInt64) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
        return (prefix ?? settings.assignedClientIDPrefix) + hex(a) + hex(b)
    }
}
