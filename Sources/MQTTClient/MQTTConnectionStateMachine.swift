import MQTTCore
import NIOCore

/// The client side of an MQTT session as a value type: every input (a packet from the server, a request from the
/// application, a timer tick, the end of a network connection) is a `mutating` call that returns an ``Action``
/// saying what to send, which requests completed and which messages to deliver. It does no I/O and reads no
/// clock, so every rule is testable without sockets.
///
/// The outbound inflight window (QoS 1 and 2 publishes not yet acknowledged) and the inbound QoS 2 identifiers
/// survive a lost connection, so a resumed session retransmits them [MQTT-4.4.0-1].
public struct MQTTConnectionStateMachine: Sendable {
    /// Identifies an application request (publish, subscribe, unsubscribe) in ``Action/completions``.
    public typealias RequestID = UInt64

    /// How a request ended.
    public enum Completion: Sendable, Hashable {
        case published(MQTTPublishResult)
        case subscribed(MQTTSubscribeResult)
        case unsubscribed(MQTTSubscribeResult)
        /// Re-authentication succeeded; the properties of the server's AUTH 0x00.
        case reauthenticated(Properties)
        case failed(MQTTClientError)
    }

    /// What the driver must do after an input, in this order: send `packets`, complete `completions`, deliver
    /// `messages`, report `connected`, then close the connection if `close` is set.
    public struct Action: Sendable {
        public var packets: [Packet] = []
        public var completions: [(RequestID, Completion)] = []
        public var messages: [MQTTMessage] = []
        /// Set when a CONNACK accepted the connection.
        public var connected: MQTTConnectResult?
        /// Set when the connection must be closed (after sending `packets`), with the reason.
        public var close: MQTTClientError?

        public init() {}

        public var isEmpty: Bool {
            packets.isEmpty && completions.isEmpty && messages.isEmpty && connected == nil && close == nil
        }
    }

    /// Settings fixed for the life of the session.
    public struct Settings: Sendable {
        public var protocolVersion: ProtocolVersion
        /// Our Receive Maximum: at most this many unacknowledged inbound QoS 2 messages.
        public var receiveMaximum: UInt16
        /// Our Topic Alias Maximum: the largest alias the server may use towards us.
        public var topicAliasMaximum: UInt16
        /// Use topic aliases towards the server when it allows them.
        public var sendsTopicAliases: Bool
        /// Queue publishes made while disconnected or reconnecting (for automatic reconnection) instead of failing
        /// them; they are sent after the next CONNACK.
        public var queuesWhileDisconnected: Bool
        /// Enhanced authentication (MQTT 5.0); each exchange starts from a copy of it.
        public var authenticator: (any MQTTAuthenticator)?

        public init(protocolVersion: ProtocolVersion = .v5, receiveMaximum: UInt16 = 65_535,
                    topicAliasMaximum: UInt16 = 0, sendsTopicAliases: Bool = false,
                    queuesWhileDisconnected: Bool = false, authenticator: (any MQTTAuthenticator)? = nil)
        {
            self.authenticator = authenticator
            self.protocolVersion = protocolVersion
            self.receiveMaximum = receiveMaximum
            self.topicAliasMaximum = topicAliasMaximum
            self.sendsTopicAliases = sendsTopicAliases
            self.queuesWhileDisconnected = queuesWhileDisconnected
        }
    }

    /// Where the network connection is.
    public enum State: Sendable, Hashable {
        /// No network connection (before the first, or between two).
        case disconnected
        /// CONNECT sent, waiting for CONNACK.
        case connecting
        case connected
        /// DISCONNECT sent by us; nothing more is sent.
        case disconnecting
    }

    /// Where an outbound QoS 1 or 2 publish is in its exchange.
    enum OutboundStage: Sendable, Hashable {
        case awaitingPubAck
        case awaitingPubRec
        case awaitingPubComp(MQTTPublishResult)
    }

    struct Outbound: Sendable {
        var packet: PublishPacket
        var stage: OutboundStage
        var request: RequestID
        var sequence: UInt64
    }

    public let settings: Settings
    public private(set) var state: State = .disconnected

    // Session state, kept across connections.
    private var outbound: [UInt16: Outbound] = [:]
    private var waiting: [(PublishPacket, RequestID)] = []
    private var waitingStart = 0
    private var inboundQoS2: Set<UInt16> = []
    private var nextPacketIdentifier: UInt16 = 1
    private var sequence: UInt64 = 0

    // Connection state, reset by each CONNECT.
    private var pendingSubscribes: [UInt16: RequestID] = [:]
    private var pendingUnsubscribes: [UInt16: RequestID] = [:]
    private var sendQuota = 65_535
    /// The server's limits from CONNACK.
    public private(set) var serverReceiveMaximum = 65_535
    public private(set) var serverMaximumPacketSize = MQTTPacketDecoder.largestPossiblePacketSize
    public private(set) var serverTopicAliasMaximum: UInt16 = 0
    public private(set) var serverMaximumQoS: QoS = .exactlyOnce
    public private(set) var serverRetainAvailable = true
    /// The keep alive in force: ours, or the Server Keep Alive from CONNACK [MQTT-3.1.2-21].
    public private(set) var keepAlive: UInt16 = 0
    private var requestedKeepAlive: UInt16 = 0
    private var clientIdentifier = ""
    private var outboundAliases: [String: UInt16] = [:]
    private var inboundAliases: [UInt16: String] = [:]
    private var lastPacketSent = NIODeadline.uptimeNanoseconds(0)
    private var pingSent: NIODeadline?
    /// The enhanced authentication exchange under way (CONNECT or re-authentication).
    private var authentication: (any MQTTAuthenticator)?
    /// The application's re-authentication request, while its exchange runs.
    private var reauthenticationRequest: RequestID?

    public init(settings: Settings) {
        self.settings = settings
    }

    private var version: ProtocolVersion { settings.protocolVersion }

    /// The number of outbound QoS 1 and 2 publishes sent and not yet acknowledged.
    public var inflightCount: Int { outbound.count }
    /// The number of publishes waiting for the send quota (or for a connection).
    public var waitingCount: Int { waiting.count - waitingStart }

    // MARK: Connection lifecycle

    /// A network connection is open: send CONNECT.
    public mutating func connectionOpened(_ connect: ConnectPacket, now: NIODeadline) -> Action {
        precondition(connect.protocolVersion == version, "CONNECT must use the session's protocol version")
        var connect = connect
        authentication = nil
        reauthenticationRequest = nil
        if var authenticator = settings.authenticator, version.hasProperties {
            do {
                connect.properties.authenticationData = try authenticator.start()
            } catch {
                var action = Action()
                action.close = .authenticationFailed("\(error)")
                return action
            }
            connect.properties.authenticationMethod = authenticator.method
            authentication = authenticator
        }
        state = .connecting
        requestedKeepAlive = connect.keepAlive
        clientIdentifier = connect.clientIdentifier
        pendingSubscribes = [:]
        pendingUnsubscribes = [:]
        outboundAliases = [:]
        inboundAliases = [:]
        pingSent = nil
        var action = Action()
        send(.connect(connect), now: now, into: &action)
        return action
    }

    /// The network connection ended. Pending subscribes and unsubscribes fail; with `keepSession` the inflight
    /// publishes stay for retransmission on the next connection, otherwise they fail too.
    public mutating func connectionClosed(_ error: MQTTClientError, keepSession: Bool) -> Action {
        var action = Action()
        state = .disconnected
        for (_, request) in pendingSubscribes { action.completions.append((request, .failed(error))) }
        for (_, request) in pendingUnsubscribes { action.completions.append((request, .failed(error))) }
        pendingSubscribes = [:]
        pendingUnsubscribes = [:]
        authentication = nil
        if let request = reauthenticationRequest {
            reauthenticationRequest = nil
            action.completions.append((request, .failed(error)))
        }
        if !keepSession {
            for entry in outbound.values.sorted(by: { $0.sequence < $1.sequence }) {
                action.completions.append((entry.request, .failed(error)))
            }
            for (_, request) in waiting[waitingStart...] { action.completions.append((request, .failed(error))) }
            outbound = [:]
            waiting = []
            waitingStart = 0
            inboundQoS2 = []
        }
        return action
    }

    /// The application ends the session: send DISCONNECT; nothing more is sent after it.
    public mutating func disconnect(_ packet: DisconnectPacket, now: NIODeadline) -> Action {
        var action = Action()
        guard state == .connected || state == .connecting else { return action }
        send(.disconnect(packet), now: now, into: &action)
        state = .disconnecting
        return action
    }

    /// Time passed: send PINGREQ when nothing was sent for a keep alive period [MQTT-3.1.2-22], or close the
    /// connection when the PINGRESP did not come within one. With `inboundPaused` (the driver stopped reading
    /// because the application is slow) a PINGRESP cannot be seen, so its absence is not held against the server.
    public mutating func tick(now: NIODeadline, inboundPaused: Bool = false) -> Action {
        var action = Action()
        guard state == .connected, keepAlive > 0 else { return action }
        let period = TimeAmount.seconds(Int64(keepAlive))
        if let pingSent {
            if inboundPaused {
                self.pingSent = now
            } else if now - pingSent >= period {
                action.close = .connectionClosed("no PINGRESP within the keep alive of \(keepAlive) s")
            }
        } else if now - lastPacketSent >= period {
            send(.pingreq, now: now, into: &action)
            pingSent = now
        }
        return action
    }

    // MARK: Requests

    /// Publishes a message. QoS 0 completes once handed to the network; QoS 1 and 2 complete with the
    /// acknowledgement. Beyond the server's Receive Maximum, QoS 1 and 2 publishes wait [MQTT-4.9.0-2].
    public mutating func publish(_ packet: PublishPacket, request: RequestID, now: NIODeadline) -> Action {
        var action = Action()
        var packet = packet
        packet.duplicate = false
        packet.packetIdentifier = nil
        packet.properties.topicAlias = nil
        if let problem = validate(packet) {
            action.completions.append((request, .failed(problem)))
            return action
        }
        guard state == .connected else {
            // While reconnecting (no connection, or CONNECT sent and no CONNACK yet) the publish waits for
            // the CONNACK, which drains the waiting list.
            if settings.queuesWhileDisconnected && (state == .disconnected || state == .connecting) {
                waiting.append((packet, request))
            } else {
                action.completions.append((request, .failed(.notConnected)))
            }
            return action
        }
        if packet.qos == .atMostOnce {
            send(.publish(aliased(packet)), now: now, into: &action)
            action.completions.append((request, .published(MQTTPublishResult())))
        } else if sendQuota > 0 && waitingCount == 0 {
            start(packet, request: request, now: now, into: &action)
        } else {
            waiting.append((packet, request))
        }
        return action
    }

    /// Sends SUBSCRIBE; completes with the SUBACK's reason codes.
    public mutating func subscribe(_ subscriptions: [Subscription], properties: Properties = [], request: RequestID,
                                   now: NIODeadline) -> Action
    {
        var action = Action()
        guard state == .connected else {
            action.completions.append((request, .failed(.notConnected)))
            return action
        }
        if subscriptions.isEmpty {
            action.completions.append((request, .failed(.invalidArgument(.protocolError, "no topic filter"))))
            return action
        }
        for subscription in subscriptions {
            if let problem = Self.filterProblem(subscription.topicFilter) {
                action.completions.append((request, .failed(problem)))
                return action
            }
        }
        let id = allocatePacketIdentifier()
        pendingSubscribes[id] = request
        let packet = SubscribePacket(packetIdentifier: id, subscriptions: subscriptions,
                                     properties: version.hasProperties ? properties : [])
        send(.subscribe(packet), now: now, into: &action)
        return action
    }

    /// Starts re-authentication (AUTH 0x19) with a fresh copy of the authenticator [MQTT-4.12.1-1]; completes with
    /// the server's AUTH 0x00.
    public mutating func reauthenticate(request: RequestID, now: NIODeadline) -> Action {
        var action = Action()
        guard state == .connected else {
            action.completions.append((request, .failed(.notConnected)))
            return action
        }
        guard var authenticator = settings.authenticator, version.hasProperties else {
            action.completions.append(
                (request, .failed(.invalidArgument(.protocolError, "no enhanced authentication was configured"))))
            return action
        }
        guard reauthenticationRequest == nil else {
            action.completions.append(
                (request, .failed(.invalidArgument(.protocolError, "a re-authentication is already under way"))))
            return action
        }
        let data: ByteBuffer?
        do {
            data = try authenticator.start()
        } catch {
            action.completions.append((request, .failed(.authenticationFailed("\(error)"))))
            return action
        }
        authentication = authenticator
        reauthenticationRequest = request
        send(.auth(authPacket(.reAuthenticate, method: authenticator.method, data: data)), now: now, into: &action)
        return action
    }

    /// Sends UNSUBSCRIBE; completes with the UNSUBACK's reason codes (empty for MQTT 3.1.1).
    public mutating func unsubscribe(_ topicFilters: [String], properties: Properties = [], request: RequestID,
                                     now: NIODeadline) -> Action
    {
        var action = Action()
        guard state == .connected else {
            action.completions.append((request, .failed(.notConnected)))
            return action
        }
        for filter in topicFilters {
            if let problem = Self.filterProblem(filter) {
                action.completions.append((request, .failed(problem)))
                return action
            }
        }
        let id = allocatePacketIdentifier()
        pendingUnsubscribes[id] = request
        let packet = UnsubscribePacket(packetIdentifier: id, topicFilters: topicFilters,
                                       properties: version.hasProperties ? properties : [])
        send(.unsubscribe(packet), now: now, into: &action)
        return action
    }

    // MARK: Packets from the server

    /// A packet arrived from the server.
    public mutating func receive(_ packet: Packet, now: NIODeadline) -> Action {
        var action = Action()
        switch (state, packet) {
        case (.connecting, .connack(let connack)):
            receiveConnAck(connack, now: now, into: &action)
        case (.connecting, .auth(let auth)), (.connected, .auth(let auth)):
            receiveAuth(auth, now: now, into: &action)
        case (.connecting, _):
            protocolError("expected CONNACK, got \(packet.type)", now: now, into: &action)
        case (.disconnected, _), (.disconnecting, _):
            break
        case (.connected, .publish(let publish)):
            receivePublish(publish, now: now, into: &action)
        case (.connected, .puback(let ack)):
            if let entry = outbound[ack.packetIdentifier], entry.stage == .awaitingPubAck {
                finish(ack.packetIdentifier, result(ack), now: now, into: &action)
            }
        case (.connected, .pubrec(let ack)):
            receivePubRec(ack, now: now, into: &action)
        case (.connected, .pubcomp(let ack)):
            if let entry = outbound[ack.packetIdentifier], case .awaitingPubComp(let recResult) = entry.stage {
                // PUBREC's code (e.g. No matching subscribers) says more than PUBCOMP's Success.
                let comp = result(ack)
                let final: Completion = ack.reasonCode == .success ? .published(recResult) : comp
                finish(ack.packetIdentifier, final, now: now, into: &action)
            }
        case (.connected, .pubrel(let ack)):
            let known = inboundQoS2.remove(ack.packetIdentifier) != nil
            let code: ReasonCode = known || !version.hasProperties ? .success : .packetIdentifierNotFound
            send(.pubcomp(PublishAckPacket(packetIdentifier: ack.packetIdentifier, reasonCode: code)), now: now,
                 into: &action)
        case (.connected, .suback(let suback)):
            if let request = pendingSubscribes.removeValue(forKey: suback.packetIdentifier) {
                action.completions.append(
                    (request, .subscribed(MQTTSubscribeResult(reasonCodes: suback.reasonCodes,
                                                              properties: suback.properties))))
            }
        case (.connected, .unsuback(let unsuback)):
            if let request = pendingUnsubscribes.removeValue(forKey: unsuback.packetIdentifier) {
                action.completions.append(
                    (request, .unsubscribed(MQTTSubscribeResult(reasonCodes: unsuback.reasonCodes,
                                                                properties: unsuback.properties))))
            }
        case (.connected, .pingresp):
            pingSent = nil
        case (.connected, .disconnect(let disconnect)):
            state = .disconnected
            action.close = .disconnectedByServer(disconnect.reasonCode,
                                                 reasonString: disconnect.properties.reasonString)
        case (.connected, _):
            protocolError("unexpected \(packet.type) from the server", now: now, into: &action)
        }
        return action
    }

    private mutating func receiveConnAck(_ connack: ConnAckPacket, now: NIODeadline, into action: inout Action) {
        guard connack.reasonCode.isSuccess else {
            state = .disconnected
            action.close = .connectionRefused(connack.reasonCode, reasonString: connack.properties.reasonString)
            return
        }
        if var authenticator = authentication {
            authentication = nil
            guard connack.properties.authenticationMethod == authenticator.method else {
                // [MQTT-4.12.0-5]
                protocolError("CONNACK without the authentication method of CONNECT", now: now, into: &action)
                return
            }
            do {
                try authenticator.finish(connack.properties.authenticationData)
            } catch {
                authenticationFailed("\(error)", now: now, into: &action)
                return
            }
        }
        state = .connected
        let properties = connack.properties
        serverReceiveMaximum = Int(properties.receiveMaximum ?? 65_535)
        serverMaximumPacketSize = Int(properties.maximumPacketSize ?? UInt32(MQTTPacketDecoder.largestPossiblePacketSize))
        serverTopicAliasMaximum = properties.topicAliasMaximum ?? 0
        serverMaximumQoS = properties.maximumQoS ?? .exactlyOnce
        serverRetainAvailable = properties.retainAvailable ?? true
        keepAlive = properties.serverKeepAlive ?? requestedKeepAlive
        if let assigned = properties.assignedClientIdentifier { clientIdentifier = assigned }
        sendQuota = serverReceiveMaximum

        let entries = outbound.values.sorted { $0.sequence < $1.sequence }
        if connack.sessionPresent {
            // Resend unacknowledged PUBLISH (with DUP) and PUBREL packets in their original order [MQTT-4.4.0-1].
            for entry in entries {
                switch entry.stage {
                case .awaitingPubAck, .awaitingPubRec:
                    var packet = entry.packet
                    packet.duplicate = true
                    send(.publish(packet), now: now, into: &action)
                case .awaitingPubComp:
                    send(.pubrel(PublishAckPacket(packetIdentifier: entry.packet.packetIdentifier!)), now: now,
                         into: &action)
                }
                sendQuota -= 1
            }
        } else {
            // The server has no session: messages it acknowledged with PUBREC are its own now; the others are
            // published again as new messages, ahead of those that were waiting.
            inboundQoS2 = []
            outbound = [:]
            var again: [(PublishPacket, RequestID)] = []
            for entry in entries {
                if case .awaitingPubComp(let result) = entry.stage {
                    action.completions.append((entry.request, .published(result)))
                } else {
                    var packet = entry.packet
                    packet.packetIdentifier = nil
                    again.append((packet, entry.request))
                }
            }
            waiting = again + waiting[waitingStart...]
            waitingStart = 0
        }
        action.connected = MQTTConnectResult(sessionPresent: connack.sessionPresent, properties: properties,
                                             clientIdentifier: clientIdentifier)
        drainWaiting(now: now, into: &action)
    }

    /// AUTH from the server: a challenge (0x18) during CONNECT or re-authentication, or the end of a
    /// re-authentication (0x00). Without an exchange under way it is a protocol error [MQTT-4.12.0-6].
    private mutating func receiveAuth(_ auth: AuthPacket, now: NIODeadline, into action: inout Action) {
        guard var authenticator = authentication, state == .connecting || reauthenticationRequest != nil else {
            protocolError("AUTH without an authentication exchange", now: now, into: &action)
            return
        }
        guard auth.properties.authenticationMethod == authenticator.method else {
            protocolError("AUTH with another authentication method", now: now, into: &action)  // [MQTT-4.12.0-5]
            return
        }
        switch auth.reasonCode {
        case .continueAuthentication:
            do {
                let data = try authenticator.respond(to: auth.properties.authenticationData)
                authentication = authenticator
                send(.auth(authPacket(.continueAuthentication, method: authenticator.method, data: data)), now: now,
                     into: &action)  // [MQTT-4.12.0-3]
            } catch {
                authenticationFailed("\(error)", now: now, into: &action)
            }
        case .success where state == .connected:
            authentication = nil
            let request = reauthenticationRequest!
            reauthenticationRequest = nil
            do {
                try authenticator.finish(auth.properties.authenticationData)
                action.completions.append((request, .reauthenticated(auth.properties)))
            } catch {
                action.completions.append((request, .failed(.authenticationFailed("\(error)"))))
                authenticationFailed("\(error)", now: now, into: &action)
            }
        default:
            protocolError("AUTH with reason code \(auth.reasonCode)", now: now, into: &action)
        }
    }

    private func authPacket(_ code: ReasonCode, method: String, data: ByteBuffer?) -> AuthPacket {
        var properties = Properties()
        properties.authenticationMethod = method
        properties.authenticationData = data
        return AuthPacket(reasonCode: code, properties: properties)
    }

    /// The authenticator refused the server's data: tell the server (when connected) and close.
    private mutating func authenticationFailed(_ text: String, now: NIODeadline, into action: inout Action) {
        if state == .connected {
            send(.disconnect(DisconnectPacket(reasonCode: .unspecifiedError)), now: now, into: &action)
        }
        state = .disconnected
        action.close = .authenticationFailed(text)
    }

    private mutating func receivePublish(_ publish: PublishPacket, now: NIODeadline, into action: inout Action) {
        var publish = publish
        if let alias = publish.properties.topicAlias {
            guard alias > 0, alias <= settings.topicAliasMaximum else {
                protocolError("topic alias \(alias) out of range", code: .topicAliasInvalid, now: now,
                              into: &action)
                return
            }
            if publish.topic.isEmpty {
                guard let topic = inboundAliases[alias] else {
                    protocolError("unknown topic alias \(alias)", code: .topicAliasInvalid, now: now, into: &action)
                    return
                }
                publish.topic = topic
            } else {
                inboundAliases[alias] = publish.topic
            }
            publish.properties.topicAlias = nil
        } else if publish.topic.isEmpty {
            protocolError("PUBLISH without a topic", code: .topicAliasInvalid, now: now, into: &action)
            return
        }
        let message = MQTTMessage(topic: publish.topic, payload: publish.payload, qos: publish.qos,
                                  retain: publish.retain, properties: publish.properties)
        switch publish.qos {
        case .atMostOnce:
            action.messages.append(message)
        case .atLeastOnce:
            action.messages.append(message)
            send(.puback(PublishAckPacket(packetIdentifier: publish.packetIdentifier!)), now: now, into: &action)
        case .exactlyOnce:
            let id = publish.packetIdentifier!
            if !inboundQoS2.contains(id) {
                if inboundQoS2.count >= Int(settings.receiveMaximum) {
                    protocolError("more than \(settings.receiveMaximum) unacknowledged QoS 2 messages",
                                  code: .receiveMaximumExceeded, now: now, into: &action)
                    return
                }
                // Delivered once; a redelivery with the same identifier before PUBREL is only acknowledged
                // [MQTT-4.3.3-10].
                inboundQoS2.insert(id)
                action.messages.append(message)
            }
            send(.pubrec(PublishAckPacket(packetIdentifier: id)), now: now, into: &action)
        }
    }

    private mutating func receivePubRec(_ ack: PublishAckPacket, now: NIODeadline, into action: inout Action) {
        guard let entry = outbound[ack.packetIdentifier] else {
            // Not ours (any more): answer so the server can free the identifier.
            let code: ReasonCode = version.hasProperties ? .packetIdentifierNotFound : .success
            send(.pubrel(PublishAckPacket(packetIdentifier: ack.packetIdentifier, reasonCode: code)), now: now,
                 into: &action)
            return
        }
        switch entry.stage {
        case .awaitingPubRec:
            if !ack.reasonCode.isSuccess {
                finish(ack.packetIdentifier, result(ack), now: now, into: &action)  // [MQTT-4.3.3-4]: no PUBREL
                return
            }
            outbound[ack.packetIdentifier]!.stage = .awaitingPubComp(
                MQTTPublishResult(reasonCode: ack.reasonCode, properties: ack.properties))
            send(.pubrel(PublishAckPacket(packetIdentifier: ack.packetIdentifier)), now: now, into: &action)
        case .awaitingPubComp:
            send(.pubrel(PublishAckPacket(packetIdentifier: ack.packetIdentifier)), now: now, into: &action)
        case .awaitingPubAck:
            protocolError("PUBREC for a QoS 1 message", now: now, into: &action)
        }
    }

    // MARK: Internals

    private func result(_ ack: PublishAckPacket) -> Completion {
        if ack.reasonCode.isSuccess {
            return .published(MQTTPublishResult(reasonCode: ack.reasonCode, properties: ack.properties))
        }
        return .failed(.publishRejected(ack.reasonCode, reasonString: ack.properties.reasonString))
    }

    private func validate(_ packet: PublishPacket) -> MQTTClientError? {
        do {
            try TopicName.validate(packet.topic)
        } catch {
            return .invalidArgument(error.reasonCode, "invalid topic \"\(packet.topic)\": \(error)")
        }
        if state == .connected {
            if packet.qos > serverMaximumQoS {
                return .invalidArgument(.qosNotSupported, "the server supports QoS \(serverMaximumQoS.rawValue) at most")
            }
            if packet.retain && !serverRetainAvailable {
                return .invalidArgument(.retainNotSupported, "the server does not support retained messages")
            }
            var sized = packet
            if packet.qos != .atMostOnce { sized.packetIdentifier = 1 }
            let size = Packet.publish(sized).encodedSize(version: version)
            if size > serverMaximumPacketSize {
                return .packetTooLarge(size: size, maximum: serverMaximumPacketSize)  // [MQTT-3.1.2-24]
            }
        }
        return nil
    }

    static func filterProblem(_ filter: String) -> MQTTClientError? {
        do {
            if try SharedSubscription(parsing: filter) == nil { try TopicFilter.validate(filter) }
        } catch {
            return .invalidArgument(error.reasonCode, "invalid topic filter \"\(filter)\": \(error)")
        }
        return nil
    }

    private mutating func start(_ packet: PublishPacket, request: RequestID, now: NIODeadline,
                                into action: inout Action)
    {
        var packet = packet
        let id = allocatePacketIdentifier()
        packet.packetIdentifier = id
        sequence += 1
        outbound[id] = Outbound(packet: packet, stage: packet.qos == .atLeastOnce ? .awaitingPubAck : .awaitingPubRec,
                                request: request, sequence: sequence)
        sendQuota -= 1
        send(.publish(aliased(packet)), now: now, into: &action)
    }

    private mutating func finish(_ id: UInt16, _ completion: Completion, now: NIODeadline, into action: inout Action) {
        guard let entry = outbound.removeValue(forKey: id) else { return }
        sendQuota += 1
        action.completions.append((entry.request, completion))
        drainWaiting(now: now, into: &action)
    }

    private mutating func drainWaiting(now: NIODeadline, into action: inout Action) {
        while waitingStart < waiting.count && state == .connected {
            let (packet, request) = waiting[waitingStart]
            if packet.qos != .atMostOnce && sendQuota <= 0 { break }
            waitingStart += 1
            if let problem = validate(packet) {
                action.completions.append((request, .failed(problem)))
            } else if packet.qos == .atMostOnce {
                send(.publish(aliased(packet)), now: now, into: &action)
                action.completions.append((request, .published(MQTTPublishResult())))
            } else {
                start(packet, request: request, now: now, into: &action)
            }
        }
        if waitingStart == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingStart = 0
        }
    }

    /// The packet as sent: with a topic alias in place of a topic already sent, when the server allows aliases.
    private mutating func aliased(_ packet: PublishPacket) -> PublishPacket {
        guard settings.sendsTopicAliases, version.hasProperties, serverTopicAliasMaximum > 0 else { return packet }
        var packet = packet
        if let alias = outboundAliases[packet.topic] {
            packet.topic = ""
            packet.properties.topicAlias = alias
        } else if outboundAliases.count < Int(serverTopicAliasMaximum) {
            let alias = UInt16(outboundAliases.count + 1)
            outboundAliases[packet.topic] = alias
            packet.properties.topicAlias = alias
        }
        return packet
    }

    private mutating func allocatePacketIdentifier() -> UInt16 {
        while true {
            let id = nextPacketIdentifier
            nextPacketIdentifier = nextPacketIdentifier == .max ? 1 : nextPacketIdentifier + 1
            if outbound[id] == nil && pendingSubscribes[id] == nil && pendingUnsubscribes[id] == nil { return id }
        }
    }

    private mutating func send(_ packet: Packet, now: NIODeadline, into action: inout Action) {
        action.packets.append(packet)
        lastPacketSent = now
    }

    private mutating func protocolError(_ text: String, code: ReasonCode = .protocolError, now: NIODeadline,
                                        into action: inout Action)
    {
        if version.hasProperties {
            send(.disconnect(DisconnectPacket(reasonCode: code)), now: now, into: &action)
        }
        state = .disconnected
        action.close = .protocolError(code, text)
    }
}
