import MQTTCore
import NIOCore
import TernSCRAM

/// SCRAM-SHA-512 (RFC 5802 with SHA-512, RFC 7677's message formats): proves the password without sending it,
/// and checks that the server knows the password's keys. Tern offers it to users of a listener's password file
/// with `$7$` hashes.
///
/// ```swift
/// var configuration = MQTTClientConfiguration(host: "broker.example", port: 8883, transport: .tls)
/// configuration.authenticator = SCRAMAuthenticator(username: "alice", password: "secret")
/// ```
public struct SCRAMAuthenticator: MQTTAuthenticator {
    /// The Authentication Method this authenticator speaks.
    public static let methodName = "SCRAM-SHA-512"
    public var method: String { Self.methodName }
    public let username: String
    private let password: String
    private var exchange: SCRAMClientExchange?

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    public mutating func start() throws -> ByteBuffer? {
        let exchange = SCRAMClientExchange(username: username, password: password)
        self.exchange = exchange
        return ByteBuffer(bytes: exchange.clientFirstMessage)
    }

    public mutating func respond(to challenge: ByteBuffer?) throws -> ByteBuffer? {
        guard var exchange else { throw SCRAMError.unexpectedMessage }
        let answer = try exchange.respond(toServerFirst: Array(challenge?.readableBytesView ?? []))
        self.exchange = exchange
        return ByteBuffer(bytes: answer)
    }

    public mutating func finish(_ data: ByteBuffer?) throws {
        guard var exchange else { throw SCRAMError.unexpectedMessage }
        try exchange.verify(serverFinal: Array(data?.readableBytesView ?? []))
        self.exchange = nil
    }
}
