/// The server side of one SCRAM-SHA-512 exchange (RFC 5802 with SHA-512, as RFC 7677 does with SHA-256), as a value
/// type: each client message goes into ``receive(_:credentials:)``, which says what to answer.
///
/// A user the server does not know gets a challenge like any other (a salt derived from the name, so a second try
/// gets the same one) and fails only at the proof: the exchange does not tell who exists.
public struct SCRAMServerExchange: Sendable {
    /// What to do after a client message.
    public enum Step: Sendable, Hashable {
        /// Send the server-first message and wait for the client-final one.
        case challenge([UInt8])
        /// The client proved it knows `username`'s password: send the server-final message and let it in.
        case authenticated(username: String, serverFinal: [UInt8])
        /// Refuse the client. `username` is the name it claimed, when it got that far.
        case failed(SCRAMError, username: String?)
    }

    enum State: Sendable {
        case awaitingClientFirst
        case awaitingClientFinal(username: String, credentials: SCRAMCredentials?, nonce: String,
                                 clientFirstBare: String, serverFirst: String, binding: String)
        case finished
    }

    private var state = State.awaitingClientFirst
    private let serverNonce: String
    private let decoyKey: [UInt8]
    /// The iteration count of the challenge given to unknown users (Mosquitto's default).
    public var decoyIterations = 101

    /// - Parameters:
    ///   - nonce: the server's part of the nonce; random unless a test gives one.
    ///   - decoyKey: a secret the salts of unknown users are derived from (random per server start is fine).
    public init(nonce: String? = nil, decoyKey: [UInt8]) {
        serverNonce = nonce ?? SCRAMMessage.makeNonce()
        self.decoyKey = decoyKey
    }

    /// The user name of the exchange, once the client-first message named it.
    public var username: String? {
        if case .awaitingClientFinal(let username, _, _, _, _, _) = state { return username }
        return nil
    }

    /// Takes the next client message; `credentials` looks a user up (nil: unknown, or no usable hash).
    public mutating func receive(_ message: [UInt8], credentials: (String) -> SCRAMCredentials?) -> Step {
        switch state {
        case .awaitingClientFirst:
            do {
                return try receiveClientFirst(message, credentials: credentials)
            } catch {
                state = .finished
                return .failed(error, username: nil)
            }
        case .awaitingClientFinal(let username, let stored, let nonce, let clientFirstBare, let serverFirst,
                                  let binding):
            state = .finished
            do {
                return try receiveClientFinal(message, username: username, credentials: stored, nonce: nonce,
                                              clientFirstBare: clientFirstBare, serverFirst: serverFirst,
                                              binding: binding)
            } catch {
                return .failed(error, username: username)
            }
        case .finished:
            return .failed(.unexpectedMessage, username: nil)
        }
    }

    private mutating func receiveClientFirst(_ message: [UInt8], credentials: (String) -> SCRAMCredentials?)
        throws(SCRAMError) -> Step
    {
        guard let text = String(bytes: message, encoding: .utf8) else { throw .malformedMessage("not UTF-8") }
        // gs2-header: cbind-flag "," [authzid] ","
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformedMessage("no GS2 header") }
        switch parts[0] {
        case "n", "y": break  // "y": the client could bind, but we offer no -PLUS mechanism
        default:
            if parts[0].hasPrefix("p=") { throw .channelBindingNotSupported }
            throw .malformedMessage("bad channel binding flag")
        }
        let bare = try SCRAMMessage(parsing: parts[2])
        if bare.attributes.first?.name == "m" { throw .malformedMessage("mandatory extension not supported") }
        let username = try SCRAMMessage.unescape(try bare.value("n", at: 0))
        let clientNonce = try bare.value("r", at: 1)
        guard !username.isEmpty else { throw .malformedMessage("empty user name") }
        guard SCRAMMessage.isValidNonce(clientNonce) else { throw .malformedMessage("bad nonce") }
        if !parts[1].isEmpty {
            guard parts[1].hasPrefix("a="), try SCRAMMessage.unescape(String(parts[1].dropFirst(2))) == username
            else { throw .authorizationIdentityNotSupported }
        }
        let stored = credentials(username)
        let salt = stored?.salt ?? Array(SCRAMCredentials.hmac(key: decoyKey, Array(username.utf8)).prefix(12))
        let iterations = stored?.iterations ?? decoyIterations
        let nonce = clientNonce + serverNonce
        let serverFirst = "r=\(nonce),s=\(SCRAMMessage.base64(salt)),i=\(iterations)"
        // The client-final message repeats the GS2 header, Base64-encoded, as its channel binding.
        let binding = SCRAMMessage.base64(Array("\(parts[0]),\(parts[1]),".utf8))
        state = .awaitingClientFinal(username: username, credentials: stored, nonce: nonce,
                                     clientFirstBare: String(parts[2]), serverFirst: serverFirst, binding: binding)
        return .challenge(Array(serverFirst.utf8))
    }

    private func receiveClientFinal(_ message: [UInt8], username: String, credentials: SCRAMCredentials?,
                                    nonce: String, clientFirstBare: String, serverFirst: String, binding: String)
        throws(SCRAMError) -> Step
    {
        let final = try SCRAMMessage(parsing: message)
        guard try final.value("c", at: 0) == binding else { throw .malformedMessage("channel binding differs") }
        guard try final.value("r", at: 1) == nonce else { throw .nonceMismatch }
        guard let last = final.attributes.last, last.name == "p", final.attributes.count >= 3 else {
            throw .malformedMessage("no proof")
        }
        let proof = try SCRAMMessage.decodeBase64(last.value, "proof")
        let withoutProof = SCRAMMessage(Array(final.attributes.dropLast())).text
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        guard let credentials, proof.count == credentials.storedKey.count else { throw .invalidProof }
        let clientSignature = SCRAMCredentials.hmac(key: credentials.storedKey, authMessage)
        let clientKey = SCRAMCredentials.xor(proof, clientSignature)
        guard SCRAMCredentials.constantTimeEquals(SCRAMCredentials.hash(clientKey), credentials.storedKey) else {
            throw .invalidProof
        }
        let signature = SCRAMCredentials.hmac(key: credentials.serverKey, authMessage)
        return .authenticated(username: username, serverFinal: Array("v=\(SCRAMMessage.base64(signature))".utf8))
    }
}
