import MQTTCore
import NIOCore
import Testing
@testable import TernBroker

@Suite("CONNECT, sessions and takeover")
struct ConnectTests {
    @Test("CONNECT is answered with a successful CONNACK", arguments: ProtocolVersion.allCases)
    func connectAccepted(version: ProtocolVersion) {
        let harness = BrokerHarness()
        let (_, connack) = harness.connect("c1", version: version)
        #expect(connack?.reasonCode == .success)
        #expect(connack?.sessionPresent == false)
    }

    @Test("[MQTT-3.1.0-1] a first packet other than CONNECT closes the connection without CONNACK")
    func firstPacketMustBeConnect() {
        let harness = BrokerHarness()
        let id = harness.open()
        harness.send(.pingreq, from: id)
        #expect(harness.packets(to: id).isEmpty)
        #expect(harness.isClosed(id))
    }

    @Test("[MQTT-3.1.0-2] a second CONNECT is a protocol error: DISCONNECT 0x82 for MQTT 5")
    func secondConnect() {
        let harness = BrokerHarness()
        let (id, _) = harness.connect("c1")
        harness.send(.connect(ConnectPacket(clientIdentifier: "c1")), from: id)
        #expect(harness.packets(to: id).last == .disconnect(DisconnectPacket(reasonCode: .protocolError)))
        #expect(harness.isClosed(id))
    }

    @Test("[MQTT-3.1.3-8] 3.1.1: an empty client id with Clean Session 0 is refused with return code 2")
    func emptyClientIDWithoutCleanSession() {
        let harness = BrokerHarness()
        let (id, connack) = harness.connect("", version: .v3_1_1, cleanStart: false)
        #expect(connack?.reasonCode == .clientIdentifierNotValid)
        #expect(connack?.reasonCode.connectReturnCode == 2)
        #expect(harness.isClosed(id))
        // Counted by its reason (the metrics' `reason` label).
        #expect(harness.broker.statistics.connectionsRefused == 1)
        #expect(harness.broker.statistics.refusals == [.clientIdentifierNotValid: 1])
    }

    @Test("[MQTT-3.2.2-16] MQTT 5: an empty client id gets an Assigned Client Identifier")
    func assignedClientIdentifier() throws {
        let harness = BrokerHarness()
        let (_, connack) = harness.connect("", version: .v5)
        let assigned = try #require(connack?.properties.assignedClientIdentifier)
        #expect(assigned.hasPrefix("auto-"))
    }

    @Test("3.1.1 with Clean Session 1 and an empty id is accepted without a property")
    func emptyClientIDv311() {
        let harness = BrokerHarness()
        let (_, connack) = harness.connect("", version: .v3_1_1, cleanStart: true)
        #expect(connack?.reasonCode == .success)
    }

    @Test("[MQTT-3.1.4-3] takeover: the old connection gets DISCONNECT 0x8E and is closed")
    func takeover() {
        let harness = BrokerHarness()
        let (old, _) = harness.connect("same")
        let (new, connack) = harness.connect("same")
        #expect(harness.packets(to: old).last == .disconnect(DisconnectPacket(reasonCode: .sessionTakenOver)))
        #expect(harness.isClosed(old))
        #expect(!harness.isClosed(new))
        #expect(connack?.reasonCode == .success)
        // The old connection's socket closing afterwards changes nothing for the new one.
        harness.dropConnection(old)
        #expect(harness.broker.sessions["same"]?.connection == new)
    }

    @Test("takeover of a 3.1.1 client closes it without DISCONNECT and publishes its will")
    func takeoverV3PublishesWill() {
        let harness = BrokerHarness()
        let (watcher, _) = harness.connect("watcher")
        harness.subscribe(watcher, "status/#")
        let will = LastWill(topic: "status/dev", payload: ByteBuffer(string: "offline"))
        let (old, _) = harness.connect("dev", version: .v3_1_1, will: will)
        harness.connect("dev", version: .v3_1_1)
        #expect(harness.packets(to: old).filter { $0.type == .disconnect }.isEmpty)
        #expect(harness.publishes(to: watcher).map(\.payloadString) == ["offline"])
    }

    @Test("client identifiers are compared byte for byte: canonically equivalent ones are two clients")
    func clientIdentifiersNotNormalised() {
        let harness = BrokerHarness()
        let (precomposed, _) = harness.connect("caf\u{E9}")
        let (decomposed, _) = harness.connect("cafe\u{301}")
        #expect(!harness.isClosed(precomposed) && !harness.isClosed(decomposed))
        #expect(harness.broker.sessionCount == 2)
    }

    @Test("[MQTT-3.2.2-2] Session Present when resuming a persistent session; [MQTT-3.1.2-4] not after Clean Start")
    func sessionPresent() {
        let harness = BrokerHarness()
        let (first, _) = harness.connect("p", cleanStart: false, properties: [.sessionExpiryInterval(60)])
        harness.send(.disconnect(DisconnectPacket()), from: first)
        let (_, resumed) = harness.connect("p", cleanStart: false, properties: [.sessionExpiryInterval(60)])
        #expect(resumed?.sessionPresent == true)
        let (_, clean) = harness.connect("p", cleanStart: true)
        #expect(clean?.sessionPresent == false)
    }

    @Test("3.1.1 Clean Session 0 keeps the session across connections")
    func persistentSessionV311() {
        let harness = BrokerHarness()
        let (first, _) = harness.connect("p", version: .v3_1_1, cleanStart: false)
        harness.send(.disconnect(DisconnectPacket()), from: first)
        let (_, resumed) = harness.connect("p", version: .v3_1_1, cleanStart: false)
        #expect(resumed?.sessionPresent == true)
    }

    @Test("a session ends when its Session Expiry Interval passes after the disconnect")
    func sessionExpiry() {
        let harness = BrokerHarness()
        let (id, _) = harness.connect("s", cleanStart: false, properties: [.sessionExpiryInterval(10)])
        harness.dropConnection(id)
        harness.advance(seconds: 9)
        #expect(harness.broker.sessions["s"] != nil)
        harness.advance(seconds: 2)
        #expect(harness.broker.sessions["s"] == nil)
        let (_, connack) = harness.connect("s", cleanStart: false)
        #expect(connack?.sessionPresent == false)
    }

    @Test("[MQTT-3.14.2-2] DISCONNECT may not give a session that expired with its connection a lifetime")
    func disconnectExpiryFromZero() {
        let harness = BrokerHarness()
        let (id, _) = harness.connect("z")
        harness.send(.disconnect(DisconnectPacket(properties: [.sessionExpiryInterval(30)])), from: id)
        #expect(harness.packets(to: id).last == .disconnect(DisconnectPacket(reasonCode: .protocolError)))
    }

    @Test("keep alive: no packet for 1.5 times the interval closes the connection with 0x8D")
    func keepAliveTimeout() {
        let harness = BrokerHarness()
        let (id, _) = harness.connect("k", keepAlive: 10)
        harness.advance(seconds: 14)
        #expect(!harness.isClosed(id))
        harness.send(.pingreq, from: id)
        #expect(harness.packets(to: id).last == .pingresp)
        harness.advance(seconds: 14.9)
        #expect(!harness.isClosed(id))
        harness.advance(seconds: 0.2)
        #expect(harness.isClosed(id))
        #expect(harness.packets(to: id).last == .disconnect(DisconnectPacket(reasonCode: .keepAliveTimeout)))
    }

    @Test("a socket that never sends CONNECT is closed after the connect timeout")
    func connectTimeout() {
        var settings = BrokerSettings()
        settings.connectTimeout = 5
        let harness = BrokerHarness(settings: settings)
        let id = harness.open()
        harness.advance(seconds: 4)
        #expect(!harness.isClosed(id))
        harness.advance(seconds: 2)
        #expect(harness.isClosed(id))
    }

    @Test("Server Keep Alive overrides the client's keep alive and is announced")
    func serverKeepAlive() {
        var settings = BrokerSettings()
        settings.serverKeepAlive = 30
        let harness = BrokerHarness(settings: settings)
        let (_, connack) = harness.connect("k", keepAlive: 600)
        #expect(connack?.properties.serverKeepAlive == 30)
    }

    @Test("a decoding error after CONNECT gets DISCONNECT with its reason code (v5) or a plain close (v3)")
    func decodingErrors() {
        let harness = BrokerHarness()
        let (v5, _) = harness.connect("a")
        harness.broker.decodingFailed(.invalidQoS(3), connection: v5, protocolVersion: .v5, now: harness.now,
                                      output: &harness.output)
        #expect(harness.packets(to: v5).last == .disconnect(DisconnectPacket(reasonCode: .malformedPacket)))
        #expect(harness.isClosed(v5))
        let (v3, _) = harness.connect("b", version: .v3_1_1)
        harness.broker.decodingFailed(.invalidQoS(3), connection: v3, protocolVersion: .v3_1_1, now: harness.now,
                                      output: &harness.output)
        #expect(harness.packets(to: v3).last?.type == .connack)
        #expect(harness.isClosed(v3))
    }

    @Test("a second CONNECT with an unknown protocol level: DISCONNECT 0x82, not 0x84 which DISCONNECT cannot carry")
    func secondConnectWithUnknownLevel() {
        // Found by the broker fuzz target.
        let harness = BrokerHarness()
        let (v5, _) = harness.connect("a")
        harness.broker.decodingFailed(.unsupportedProtocolLevel(6), connection: v5, protocolVersion: .v5,
                                      now: harness.now, output: &harness.output)
        #expect(harness.packets(to: v5).last == .disconnect(DisconnectPacket(reasonCode: .protocolError)))
        #expect(harness.isClosed(v5))
    }

    @Test("a listener's own client identifier rules: its prefix for assigned identifiers, its zero-length rule")
    func listenerClientIdentifierRules() {
        let harness = BrokerHarness()
        let id = ConnectionID(900)
        harness.broker.connectionOpened(id, now: harness.now, clientIdentifiers: ClientIdentifierRules(
            allowZeroLength: true, assignedPrefix: "plant-"))
        harness.send(.connect(ConnectPacket(clientIdentifier: "")), from: id)
        let assigned = harness.packets(to: id).compactMap { packet -> String? in
            if case .connack(let connack) = packet { connack.properties.assignedClientIdentifier } else { nil }
        }
        #expect(assigned.count == 1 && assigned[0].hasPrefix("plant-"))
        let strict = ConnectionID(901)
        harness.broker.connectionOpened(strict, now: harness.now, clientIdentifiers: ClientIdentifierRules(
            allowZeroLength: false, assignedPrefix: "auto-"))
        harness.send(.connect(ConnectPacket(clientIdentifier: "")), from: strict)
        #expect(harness.packets(to: strict) == [.connack(ConnAckPacket(reasonCode: .clientIdentifierNotValid))])
    }

    @Test("use_username_as_clientid: the user name is the client identifier; a client without one is refused",
          arguments: [ProtocolVersion.v5, .v3_1_1])
    func usernameAsClientIdentifier(version: ProtocolVersion) {
        let harness = BrokerHarness()
        let rules = ClientIdentifierRules(allowZeroLength: true, assignedPrefix: "auto-", usesUsername: true)
        func connect(_ connection: UInt64, clientID: String, username: String?) -> ConnectionID {
            let id = ConnectionID(connection)
            harness.broker.connectionOpened(id, now: harness.now, clientIdentifiers: rules)
            harness.send(.connect(ConnectPacket(protocolVersion: version, clientIdentifier: clientID,
                                                username: username)), from: id)
            return id
        }
        let first = connect(910, clientID: "sensor-1", username: "alice")
        #expect(harness.broker.clientID(of: first)?.string == "alice")
        // Another identifier with the same user name is the same client: it takes the session over.
        let second = connect(911, clientID: "sensor-2", username: "alice")
        #expect(harness.isClosed(first) && !harness.isClosed(second))
        if version == .v5 {
            #expect(harness.packets(to: first).last == .disconnect(DisconnectPacket(reasonCode: .sessionTakenOver)))
            let empty = connect(912, clientID: "", username: "bob")
            #expect(harness.packets(to: empty).last == .connack(ConnAckPacket(
                properties: [.assignedClientIdentifier("bob"), .topicAliasMaximum(10)])))
        }
        let anonymous = connect(913, clientID: "sensor-3", username: nil)
        #expect(harness.packets(to: anonymous) == [.connack(ConnAckPacket(reasonCode: .notAuthorized))])
        #expect(harness.isClosed(anonymous))
    }

    @Test("clientid_prefixes: an identifier without the prefix gets CONNACK 0x87 (3.1.1: 5)",
          arguments: [ProtocolVersion.v5, .v3_1_1])
    func requiredClientIdentifierPrefix(version: ProtocolVersion) {
        var settings = BrokerSettings()
        settings.requiredClientIDPrefix = "sensor-"
        let harness = BrokerHarness(settings: settings)
        #expect(harness.connect("sensor-7", version: version).1?.reasonCode == .success)
        let (other, refused) = harness.connect("camera-1", version: version)
        #expect(refused?.reasonCode == .notAuthorized)
        #expect(refused?.reasonCode.connectReturnCode == 5)
        #expect(harness.isClosed(other))
    }

    @Test("[MQTT-3.1.2-2] an unsupported protocol level gets CONNACK 0x01 (v3 form) and a close")
    func unsupportedLevel() {
        let harness = BrokerHarness()
        let id = harness.open()
        harness.broker.decodingFailed(.unsupportedProtocolLevel(6), connection: id, protocolVersion: nil,
                                      now: harness.now, output: &harness.output)
        #expect(harness.packets(to: id) == [.connack(ConnAckPacket(reasonCode: .unsupportedProtocolVersion))])
        #expect(harness.isClosed(id))
    }

    @Test("shutdown sends MQTT 5 clients DISCONNECT 0x8B and publishes no will")
    func shutdown() {
        let harness = BrokerHarness()
        let (watcher, _) = harness.connect("watcher", version: .v3_1_1)
        harness.subscribe(watcher, "#")
        let (v5, _) = harness.connect("v5", will: LastWill(topic: "w", payload: ByteBuffer(string: "gone")))
        harness.broker.shutdown(output: &harness.output)
        #expect(harness.packets(to: v5).last == .disconnect(DisconnectPacket(reasonCode: .serverShuttingDown)))
        #expect(harness.publishes(to: watcher).isEmpty)
        #expect(harness.isClosed(v5) && harness.isClosed(watcher))
    }

    @Test("authentication: CONNECT waits for the result; packets after it are held, then processed in order")
    func authenticationAccepted() {
        let harness = BrokerHarness()
        let (watcher, _) = harness.connect("watcher")
        harness.subscribe(watcher, "t")
        let id = harness.open(requiresAuthentication: true)
        harness.send(.connect(ConnectPacket(clientIdentifier: "alice", username: "alice",
                                            password: ByteBuffer(string: "secret"))), from: id)
        harness.publish(id, "t", "sent before the CONNACK")
        #expect(harness.packets(to: id).isEmpty)
        #expect(harness.publishes(to: watcher).isEmpty)  // not processed before the CONNECT is accepted
        let request = harness.output.authenticationRequests.last
        #expect(request?.username == "alice" && request?.password == ByteBuffer(string: "secret"))
        harness.broker.authenticationCompleted(id, result: .accepted(username: "alice"), now: harness.now,
                                               output: &harness.output)
        #expect(harness.packets(to: id).first?.type == .connack)
        #expect(harness.publishes(to: watcher).map(\.payloadString) == ["sent before the CONNACK"])
        #expect(harness.broker.connections[id]?.username == "alice")
    }

    @Test("authentication refused: CONNACK with the reason (0x86 v5, return code 4 or 5 v3) and a close")
    func authenticationRefused() {
        let harness = BrokerHarness()
        let id = harness.open(requiresAuthentication: true)
        harness.send(.connect(ConnectPacket(clientIdentifier: "mallory", username: "mallory")), from: id)
        harness.broker.authenticationCompleted(id, result: .refused(.badUserNameOrPassword), now: harness.now,
                                               output: &harness.output)
        #expect(harness.packets(to: id) == [.connack(ConnAckPacket(reasonCode: .badUserNameOrPassword))])
        #expect(harness.isClosed(id))
        #expect(harness.broker.sessionCount == 0)
    }

    @Test("a connection whose authentication does not finish before the connect timeout is closed")
    func authenticationTimeout() {
        var settings = BrokerSettings()
        settings.connectTimeout = 5
        let harness = BrokerHarness(settings: settings)
        let id = harness.open(requiresAuthentication: true)
        harness.send(.connect(ConnectPacket(clientIdentifier: "slow")), from: id)
        harness.advance(seconds: 6)
        #expect(harness.isClosed(id))
        // A late answer changes nothing.
        harness.broker.authenticationCompleted(id, result: .accepted(username: nil), now: harness.now,
                                               output: &harness.output)
        #expect(harness.packets(to: id).isEmpty)
    }
}
