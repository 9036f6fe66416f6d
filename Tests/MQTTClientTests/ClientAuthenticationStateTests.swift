import MQTTClient
import MQTTCore
import NIOCore
import Testing

/// The client's side of enhanced authentication in the state machine: what CONNECT and AUTH carry, and what a
/// server that cannot prove itself, or breaks the exchange's rules, gets.
@Suite struct ClientAuthenticationStateTests {
    typealias Machine = MQTTConnectionStateMachine
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// Answers "a1", "a2", ... and accepts only the final data "ok".
    struct Scripted: MQTTAuthenticator {
        let method = "TEST"
        var step = 0
        mutating func start() throws -> ByteBuffer? { ByteBuffer(string: "start") }
        mutating func respond(to challenge: ByteBuffer?) throws -> ByteBuffer? {
            step += 1
            return ByteBuffer(string: "a\(step)")
        }
        mutating func finish(_ data: ByteBuffer?) throws {
            guard data == ByteBuffer(string: "ok") else { throw MQTTClientError.authenticationFailed("bad final") }
        }
    }

    func properties(_ method: String?, _ data: String?) -> Properties {
        var properties = Properties()
        properties.authenticationMethod = method
        properties.authenticationData = data.map { ByteBuffer(string: $0) }
        return properties
    }

    func opened() -> (Machine, ConnectPacket?) {
        var machine = Machine(settings: .init(authenticator: Scripted()))
        let action = machine.connectionOpened(ConnectPacket(clientIdentifier: "c"), now: t0)
        guard case .connect(let connect) = action.packets.first else { return (machine, nil) }
        return (machine, connect)
    }

    @Test func connectCarriesTheMethodAndChallengesAreAnswered() {
        var (machine, connect) = opened()
        #expect(connect?.properties.authenticationMethod == "TEST")
        #expect(connect?.properties.authenticationData == ByteBuffer(string: "start"))
        let answer = machine.receive(.auth(AuthPacket(reasonCode: .continueAuthentication,
                                                      properties: properties("TEST", "c1"))), now: t0)
        #expect(answer.packets == [.auth(AuthPacket(reasonCode: .continueAuthentication,
                                                   properties: properties("TEST", "a1")))])
        let connack = machine.receive(.connack(ConnAckPacket(properties: properties("TEST", "ok"))), now: t0)
        #expect(connack.connected != nil)
        #expect(machine.state == .connected)

        let reauth = machine.reauthenticate(request: 7, now: t0)
        #expect(reauth.packets == [.auth(AuthPacket(reasonCode: .reAuthenticate, properties: properties("TEST", "start")))])
        let done = machine.receive(.auth(AuthPacket(reasonCode: .success, properties: properties("TEST", "ok"))), now: t0)
        #expect(done.completions.first?.0 == 7)
        #expect(done.close == nil)
    }

    @Test func serverThatCannotProveItselfIsLeft() {
        var (machine, _) = opened()
        let action = machine.receive(.connack(ConnAckPacket(properties: properties("TEST", "forged"))), now: t0)
        #expect(action.connected == nil)
        #expect(action.close == .authenticationFailed("authentication failed: bad final"))
    }

    @Test func authWithAnotherMethodOrWithoutAnExchangeIsAProtocolError() {
        var (machine, _) = opened()
        let other = machine.receive(.auth(AuthPacket(reasonCode: .continueAuthentication,
                                                     properties: properties("OTHER", "c1"))), now: t0)
        #expect(other.close?.reasonCode == .protocolError)

        var plain = Machine(settings: .init())
        _ = plain.connectionOpened(ConnectPacket(clientIdentifier: "c"), now: t0)
        _ = plain.receive(.connack(ConnAckPacket()), now: t0)
        let unasked = plain.receive(.auth(AuthPacket(reasonCode: .continueAuthentication,
                                                     properties: properties("TEST", "x"))), now: t0)
        #expect(unasked.packets == [.disconnect(DisconnectPacket(reasonCode: .protocolError))])
    }
}
