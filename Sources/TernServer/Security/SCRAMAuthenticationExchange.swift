import NIOCore
import TernBroker
import TernSCRAM

/// SCRAM-SHA-512 against a listener's password file: a `$7$` hash gives the user's StoredKey and ServerKey
/// without the password (see `PasswordHash.scramCredentials`). Users with `$6$` hashes, and unknown users, get a
/// challenge like the others and are refused at the proof with 0x87 Not authorized, the log saying why; so is
/// any other failure (a wrong password, a malformed or replayed message).
struct SCRAMAuthenticationExchange: AuthenticationExchange {
    static let method = "SCRAM-SHA-512"

    private var exchange: SCRAMServerExchange
    private let passwordFile: PasswordFile
    private let accessControlList: AccessControlList?
    /// The CONNECT's user name, if it had one: SCRAM's must then be the same.
    private let connectUsername: String?
    private(set) var refusal: String?

    init(passwordFile: PasswordFile, accessControlList: AccessControlList?, connectUsername: String?) {
        // The decoy hash is random per file load: unknown users' salts stay stable until the next reload.
        let decoy: (key: [UInt8], iterations: Int) = switch passwordFile.decoy {
        case .sha512PBKDF2(let iterations, _, let hash): (hash, iterations)
        case .sha512(_, let hash): (hash, PasswordHash.defaultIterations)
        }
        var exchange = SCRAMServerExchange(decoyKey: decoy.key)
        exchange.decoyIterations = decoy.iterations
        self.exchange = exchange
        self.passwordFile = passwordFile
        self.accessControlList = accessControlList
        self.connectUsername = connectUsername
    }

    mutating func receive(_ data: ByteBuffer?) -> AuthenticationResult {
        let passwordFile = self.passwordFile
        let step = exchange.receive(Array(data?.readableBytesView ?? [])) { username in
            passwordFile.hash(of: username)?.scramCredentials
        }
        switch step {
        case .challenge(let serverFirst):
            return .continueAuthentication(ByteBuffer(bytes: serverFirst))
        case .authenticated(let username, let serverFinal):
            if let connectUsername, connectUsername != username {
                refusal = "SCRAM user '\(username)' is not the CONNECT's user '\(connectUsername)'"
                return .refused(.badUserNameOrPassword)
            }
            return .accepted(username: username, accessControl: accessControlList,
                             authenticationData: ByteBuffer(bytes: serverFinal))
        case .failed(let error, let username):
            refusal = Self.explain(error, username: username, passwordFile: passwordFile)
            return .refused(.notAuthorized)
        }
    }

    private static func explain(_ error: SCRAMError, username: String?, passwordFile: PasswordFile) -> String {
        guard let username else { return "SCRAM-SHA-512: \(error)" }
        switch passwordFile.hash(of: username) {
        case nil:
            return "SCRAM-SHA-512: unknown user '\(username)'"
        case .sha512?:
            return """
                SCRAM-SHA-512: user '\(username)' has a $6$ (sha512) password hash, which SCRAM cannot use; \
                hash the password again with sha512-pbkdf2 ($7$, `tern passwd`'s default)
                """
        case .sha512PBKDF2?:
            return "SCRAM-SHA-512 for user '\(username)': \(error)"
        }
    }
}
