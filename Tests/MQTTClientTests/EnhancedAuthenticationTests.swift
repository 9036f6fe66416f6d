import Foundation
import MQTTClient
import MQTTCore
import NIOCore
import TernBroker
import TernServer
import Testing

/// SCRAM-SHA-512 between MQTTClient and Tern's listener authenticator over a password file: connect, use the
/// session, re-authenticate; refusals for a wrong password, an unknown user, a `$6$` hash and another method.
/// (The node interop test checks the same against MQTT.js, an independent client.)
@Suite("Enhanced authentication against Tern", .serialized)
struct EnhancedAuthenticationTests {
    static func broker() async throws -> TestBroker {
        let file = """
            alice:\(PasswordFile.hash(password: "wonderland"))
            old:\(PasswordFile.hash(password: "legacy", algorithm: .sha512))
            """
        let passwords = try PasswordFile(contents: Array(file.utf8), path: "test")
        let authenticator = ListenerAuthenticator(ListenerSecurity(allowAnonymous: false, passwordFile: passwords))
        return try await TestBroker.tern(authenticator: authenticator)
    }

    static func configuration(_ broker: TestBroker, _ authenticator: any MQTTAuthenticator)
        -> MQTTClientConfiguration
    {
        var configuration = broker.configuration(.v5, clientIdentifier: "scram")
        configuration.authenticator = authenticator
        return configuration
    }

    @Test func scramConnectUseAndReauthenticate() async throws {
        let broker = try await Self.broker()
        defer { broker.stopNow() }
        let client = MQTTClient(configuration: Self.configuration(
            broker, SCRAMAuthenticator(username: "alice", password: "wonderland")))
        let result = try await client.connect()
        #expect(result.properties.authenticationMethod == "SCRAM-SHA-512")
        let collector = MessageCollector(try await client.subscribe(to: "scram/#", qos: .atLeastOnce))
        try await client.publish(to: "scram/1", payload: "before", qos: .atLeastOnce)
        let properties = try await client.reauthenticate()
        #expect(properties.authenticationMethod == "SCRAM-SHA-512")
        try await client.publish(to: "scram/2", payload: "after", qos: .atLeastOnce)
        #expect(try await collector.wait(for: 2).map(\.payloadString) == ["before", "after"])
        #expect(try await broker.sessionSummary(clientID: "scram")?.username == "alice")
        try await client.disconnect()
    }

    @Test(arguments: [("alice", "wrong"), ("nobody", "x"), ("old", "legacy")])
    func refusedWithNotAuthorized(user: String, password: String) async throws {
        let broker = try await Self.broker()
        defer { broker.stopNow() }
        let client = MQTTClient(configuration: Self.configuration(
            broker, SCRAMAuthenticator(username: user, password: password)))
        await #expect(throws: MQTTClientError.connectionRefused(.notAuthorized, reasonString: nil)) {
            try await client.connect()
        }
    }

    struct OtherMethod: MQTTAuthenticator {
        let method = "OTHER"
        mutating func start() throws -> ByteBuffer? { nil }
        mutating func respond(to challenge: ByteBuffer?) throws -> ByteBuffer? { nil }
        mutating func finish(_ data: ByteBuffer?) throws {}
    }

    @Test func unknownMethodIsRefusedWithBadAuthenticationMethod() async throws {
        let broker = try await Self.broker()
        defer { broker.stopNow() }
        let client = MQTTClient(configuration: Self.configuration(broker, OtherMethod()))
        await #expect(throws: MQTTClientError.connectionRefused(.badAuthenticationMethod, reasonString: nil)) {
            try await client.connect()
        }
    }

    @Test func reauthenticateWithoutAnAuthenticatorFails() async throws {
        let broker = try await TestBroker.start(.tern)
        defer { broker.stopNow() }
        let client = MQTTClient(configuration: broker.configuration(.v5))
        try await client.connect()
        await #expect(throws: MQTTClientError.self) { try await client.reauthenticate() }
        #expect(await client.isConnected)
        try await client.disconnect()
    }
}
