/// The client side of one SCRAM-SHA-512 exchange (RFC 5802, RFC 7677's message formats with SHA-512), as a value
/// type: ``clientFirstMessage`` opens it, ``respond(toServerFirst:)`` answers the server's challenge with the proof,
/// ``verify(serverFinal:)`` checks that the server knew the password's keys. No channel binding (`n,,`).
public struct SCRAMClientExchange: Sendable {
    /// The GS2 header: no channel binding, no authorization identity.
    static let gs2Header = "n,,"

    enum State: Sendable {
        case started
        /// The client-final message was sent; the server's signature is expected.
        case proved(expectedSignature: [UInt8])
        case finished
    }

    public let username: String
    private let password: String
    private let clientNonce: String
    private let clientFirstBare: String
    private var state = State.started
    /// The smallest and largest iteration counts accepted from a server (Mosquitto writes 101 by default).
    public var acceptedIterations = 1...10_000_000

    /// Starts an exchange; `nonce` is random unless a test gives one.
    public init(username: String, password: String, nonce: String? = nil) {
        self.username = username
        self.password = password
        clientNonce = nonce ?? SCRAMMessage.makeNonce()
        clientFirstBare = "n=\(SCRAMMessage.escape(username)),r=\(clientNonce)"
    }

    /// The client-first message: `n,,n=USER,r=NONCE`.
    public var clientFirstMessage: [UInt8] { Array((Self.gs2Header + clientFirstBare).utf8) }

    /// Answers the server-first message (`r=NONCE,s=SALT,i=ITERATIONS`) with the client-final message
    /// (`c=biws,r=NONCE,p=PROOF`).
    public mutating func respond(toServerFirst message: [UInt8]) throws(SCRAMError) -> [UInt8] {
        guard case .started = state else { throw .unexpectedMessage }
        let serverFirst = try SCRAMMessage(parsing: message)
        if let error = serverFirst.attributes.first, error.name == "e" { throw .serverRejected(error.value) }
        let nonce = try serverFirst.value("r", at: 0)
        guard nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count, SCRAMMessage.isValidNonce(nonce) else {
            throw .nonceMismatch
        }
        let salt = try SCRAMMessage.decodeBase64(try serverFirst.value("s", at: 1), "salt")
        let iterationText = try serverFirst.value("i", at: 2)
        guard let iterations = Int(iterationText) else { throw .malformedMessage("iteration count '\(iterationText)'") }
        guard acceptedIterations.contains(iterations) else { throw .iterationCountOutOfRange(iterations) }

        let saltedPassword = SCRAMCredentials.saltedPassword(password: password, salt: salt, iterations: iterations)
        let withoutProof = "c=\(SCRAMMessage.base64(Array(Self.gs2Header.utf8))),r=\(nonce)"
        let authMessage = Array("\(clientFirstBare),\(serverFirst.text),\(withoutProof)".utf8)
        let clientKey = SCRAMCredentials.clientKey(saltedPassword: saltedPassword)
        let clientSignature = SCRAMCredentials.hmac(key: SCRAMCredentials.hash(clientKey), authMessage)
        let proof = SCRAMCredentials.xor(clientKey, clientSignature)
        let serverKey = SCRAMCredentials.hmac(key: saltedPassword, Array("Server Key".utf8))
        state = .proved(expectedSignature: SCRAMCredentials.hmac(key: serverKey, authMessage))
        return Array("\(withoutProof),p=\(SCRAMMessage.base64(proof))".utf8)
    }

    /// Checks the server-final message (`v=SIGNATURE`, or `e=ERROR`).
    public mutating func verify(serverFinal message: [UInt8]) throws(SCRAMError) {
        guard case .proved(let expected) = state else { throw .unexpectedMessage }
        state = .finished
        let serverFinal = try SCRAMMessage(parsing: message)
        if let error = serverFinal.attributes.first, error.name == "e" { throw .serverRejected(error.value) }
        let signature = try SCRAMMessage.decodeBase64(try serverFinal.value("v", at: 0), "server signature")
        guard SCRAMCredentials.constantTimeEquals(signature, expected) else { throw .serverSignatureMismatch }
    }
}
