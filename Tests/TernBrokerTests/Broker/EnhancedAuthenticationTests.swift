import MQTTCore
import NIOCore
import Testing

@testable import TernBroker

/// MQTT 5.0 enhanced authentication (section 4.12) at the protocol level, with the authenticator's answers given
/// by the test: challenges as AUTH 0x18, the final data in CONNACK or AUTH 0x00, refusals, re-authentication,
/// and the AUTH packets a client must not send.
@Suite struct EnhancedAuthenticationTests {
    static let method = "SCRAM-SHA-512"

    func auth(_ code: ReasonCode, _ data: String?, method: String = method) -> Packet {
        var properties = Properties()
        properties.authenticationMethod = method
        properties.authenticationData = data.map { ByteBuffer(string: $0) }
        return .auth(AuthPacket(reasonCode: code, properties: properties))
    }

    func connectWithMethod(_ harness: BrokerHarness, data: String = "first") -> ConnectionID {
        let id = harness.open(requiresAuthentication: true)
        var connect = ConnectPacket(clientIdentifier: "alice")
        connect.properties.authenticationMethod = Self.method
        connect.properties.authenticationData = ByteBuffer(string: data)
        harness.send(.connect(connect), from: id)
        return id
    }

    /// CONNECT, challenge, answer, CONNACK with the server's last data.
    func connected(_ harness: BrokerHarness) -> ConnectionID {
        let id = connectWithMethod(harness)
        harness.broker.authenticationCompleted(id, result: .continueAuthentication(ByteBuffer(string: "challenge")),
                                               now: harness.now, output: &harness.output)
        harness.send(auth(.continueAuthentication, "answer"), from: id)
        harness.broker.authenticationCompleted(
            id, result: .accepted(username: "alice", authenticationData: ByteBuffer(string: "final")),
            now: harness.now, output: &harness.output)
        return id
    }

    @Test func exchangeDuringConnectEndsWithTheFinalDataInConnAck() {
        let harness = BrokerHarness()
        let id = connectWithMethod(harness)
        let first = harness.output.authenticationRequests.last
        #expect(first?.authenticationMethod == Self.method && first?.stage == .connect)
        #expect(first?.authenticationData == ByteBuffer(string: "first"))
        harness.broker.authenticationCompleted(id, result: .continueAuthentication(ByteBuffer(string: "challenge")),
                                               now: harness.now, output: &harness.output)
        #expect(harness.packets(to: id) == [auth(.continueAuthentication, "challenge")])  // [MQTT-4.12.0-2]
        harness.send(auth(.continueAuthentication, "answer"), from: id)
        let second = harness.output.authenticationRequests.last
        #expect(second?.stage == .continuation && second?.authenticationData == ByteBuffer(string: "answer"))
        #expect(harness.packets(to: id).count == 1)  // no CONNACK before the final answer
        harness.broker.authenticationCompleted(
            id, result: .accepted(username: "alice", authenticationData: ByteBuffer(string: "final")),
            now: harness.now, output: &harness.output)
        guard case .connack(let connack) = harness.packets(to: id).last else {
            Issue.record("no CONNACK"); return
        }
        #expect(connack.reasonCode == .success)
        #expect(connack.properties.authenticationMethod == Self.method)  // [MQTT-4.12.0-5]
        #expect(connack.properties.authenticationData == ByteBuffer(string: "final"))
        #expect(harness.broker.connections[id]?.username == "alice")
    }

    @Test func refusedExchangeGetsConnAckWithTheReason() {
        let harness = BrokerHarness()
        let id = connectWithMethod(harness)
        harness.broker.authenticationCompleted(id, result: .continueAuthentication(nil), now: harness.now,
                                               output: &harness.output)
        harness.send(auth(.continueAuthentication, "wrong proof"), from: id)
        harness.broker.authenticationCompleted(id, result: .refused(.notAuthorized), now: harness.now,
                                               output: &harness.output)
        #expect(harness.packets(to: id).last == .connack(ConnAckPacket(reasonCode: .notAuthorized)))
        #expect(harness.isClosed(id))
        #expect(harness.broker.sessionCount == 0)
    }

    @Test func otherPacketsBeforeConnAckRefuseTheConnection() {
        // [MQTT-3.1.2-30]: only AUTH and DISCONNECT until CONNACK.
        let harness = BrokerHarness()
        let id = connectWithMethod(harness)
        harness.broker.authenticationCompleted(id, result: .continueAuthentication(nil), now: harness.now,
                                               output: &harness.output)
        harness.publish(id, "t", "too early")
        #expect(harness.packets(to: id).last == .connack(ConnAckPacket(reasonCode: .protocolError)))
        #expect(harness.isClosed(id))
    }

    @Test func authWithAnotherMethodOrUnaskedIsAProtocolError() {
        let harness = BrokerHarness()
        let id = connectWithMethod(harness)
        harness.broker.authenticationCompleted(id, result: .continueAuthentication(nil), now: harness.now,
                                               output: &harness.output)
        harness.send(auth(.continueAuthentication, "x", method: "OTHER"), from: id)
        #expect(harness.packets(to: id).last == .connack(ConnAckPacket(reasonCode: .protocolError)))
        #expect(harness.isClosed(id))

        // AUTH before the server challenged.
        let early = connectWithMethod(harness)
        harness.send(auth(.continueAuthentication, "x"), from: early)
        #expect(harness.packets(to: early).last == .connack(ConnAckPacket(reasonCode: .protocolError)))
    }

    @Test func exchangeThatDoesNotFinishInTimeIsClosed() {
        var settings = BrokerSettings()
        settings.connectTimeout = 5
        let harness = BrokerHarness(settings: settings)
        let id = connectWithMethod(harness)
        harness.broker.authenticationCompleted(id, result: .continueAuthentication(nil), now: harness.now,
                                               output: &harness.output)
        harness.advance(seconds: 6)
        #expect(harness.isClosed(id))
    }

    @Test func authFromAClientThatDidNotUseEnhancedAuthenticationIsAProtocolError() {
        // [MQTT-4.12.0-7]
        let harness = BrokerHarness()
        let (id, _) = harness.connect("plain")
        harness.send(auth(.reAuthenticate, "x"), from: id)
        #expect(harness.packets(to: id).last == .disconnect(DisconnectPacket(reasonCode: .protocolError)))
        #expect(harness.isClosed(id))
    }

    @Test func methodOnAListenerWithoutAuthenticatorIsRefused() {
        let harness = BrokerHarness()
        let id = harness.open()
        var connect = ConnectPacket(clientIdentifier: "x")
        connect.properties.authenticationMethod = Self.method
        harness.send(.connect(connect), from: id)
        #expect(harness.packets(to: id) == [.connack(ConnAckPacket(reasonCode: .badAuthenticationMethod))])
    }

    @Test func reauthenticationWhileConnected() {
        let harness = BrokerHarness()
        let id = connected(harness)
        harness.subscribe(id, "t")
        harness.clear()
        harness.send(auth(.reAuthenticate, "again"), from: id)
        #expect(harness.output.authenticationRequests.last?.stage == .reauthentication)
        #expect(harness.output.authenticationRequests.last?.username == "alice")
        harness.broker.authenticationCompleted(id, result: .continueAuthentication(ByteBuffer(string: "c2")),
                                               now: harness.now, output: &harness.output)
        #expect(harness.packets(to: id).last == auth(.continueAuthentication, "c2"))
        // Messages keep flowing during re-authentication.
        harness.publish(id, "t", "during")
        #expect(harness.publishes(to: id).map(\.payloadString) == ["during"])
        harness.send(auth(.continueAuthentication, "a2"), from: id)
        #expect(harness.output.authenticationRequests.last?.stage == .continuation)
        harness.broker.authenticationCompleted(
            id, result: .accepted(username: "alice", authenticationData: ByteBuffer(string: "f2")),
            now: harness.now, output: &harness.output)
        #expect(harness.packets(to: id).last == auth(.success, "f2"))
        #expect(!harness.isClosed(id))
        // A re-authentication that does not finish is ended by the time limit.
        harness.send(auth(.reAuthenticate, "third"), from: id)
        harness.advance(seconds: Double(BrokerSettings().connectTimeout) + 1)
        #expect(harness.packets(to: id).last == .disconnect(DisconnectPacket(reasonCode: .notAuthorized)))
        #expect(harness.isClosed(id))
    }

    @Test(arguments: [AuthenticationResult.refused(.notAuthorized), .accepted(username: "mallory")])
    func failedReauthenticationDisconnects(result: AuthenticationResult) {
        // A refusal, or success as another user.
        let harness = BrokerHarness()
        let id = connected(harness)
        harness.send(auth(.reAuthenticate, "again"), from: id)
        harness.broker.authenticationCompleted(id, result: result, now: harness.now, output: &harness.output)
        #expect(harness.packets(to: id).last == .disconnect(DisconnectPacket(reasonCode: .notAuthorized)))
        #expect(harness.isClosed(id))
    }

    @Test func reauthenticationTakesTheAccessRulesAnew() throws {
        let harness = BrokerHarness()
        let id = connected(harness)  // accepted without a list: everything allowed
        harness.subscribe(id, "t/#")
        harness.clear()
        let list = try AccessControlList(parsing: "user alice\ntopic read t/#\n", path: "acl")
        harness.send(auth(.reAuthenticate, "again"), from: id)
        harness.broker.authenticationCompleted(id, result: .accepted(username: "alice", accessControl: list),
                                               now: harness.now, output: &harness.output)
        #expect(harness.packets(to: id).last == auth(.success, nil))
        harness.publish(id, "t/1", "write denied now", qos: .atLeastOnce)
        #expect(harness.publishes(to: id).isEmpty)
        guard case .puback(let ack) = harness.packets(to: id).last else { Issue.record("no PUBACK"); return }
        #expect(ack.reasonCode == .notAuthorized)
    }

    @Test func badReauthenticationPacketsAreProtocolErrors() {
        for packet in [auth(.reAuthenticate, "x", method: "OTHER"), auth(.continueAuthentication, "unasked"),
                       auth(.success, "x")] {
            let harness = BrokerHarness()
            let id = connected(harness)
            harness.send(packet, from: id)
            #expect(harness.packets(to: id).last == .disconnect(DisconnectPacket(reasonCode: .protocolError)))
            #expect(harness.isClosed(id))
        }
    }
}
