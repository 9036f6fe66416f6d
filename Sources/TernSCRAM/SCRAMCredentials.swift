import Crypto
import _CryptoExtras

/// What a SCRAM-SHA-512 server keeps of a user's password (RFC 5802 section 3): the salt and iteration count, and
/// the StoredKey and ServerKey derived from SaltedPassword = PBKDF2-HMAC-SHA512(password, salt, iterations).
///
/// Mosquitto's `$7$` password hashes are exactly that SaltedPassword, so they give these credentials without the
/// password.
public struct SCRAMCredentials: Sendable, Hashable {
    public var salt: [UInt8]
    public var iterations: Int
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]

    /// Credentials from SaltedPassword (64 bytes).
    public init(saltedPassword: [UInt8], salt: [UInt8], iterations: Int) {
        self.salt = salt
        self.iterations = iterations
        storedKey = SCRAMCredentials.hash(SCRAMCredentials.clientKey(saltedPassword: saltedPassword))
        serverKey = SCRAMCredentials.hmac(key: saltedPassword, Array("Server Key".utf8))
    }

    /// Credentials from the password itself (for tests and for clients).
    public init(password: String, salt: [UInt8], iterations: Int) {
        self.init(saltedPassword: Self.saltedPassword(password: password, salt: salt, iterations: iterations),
                  salt: salt, iterations: iterations)
    }

    /// Hi(password, salt, i) of RFC 5802 with HMAC-SHA-512: PBKDF2 with one 64-byte block. The password's UTF-8
    /// bytes are used as they are (no SASLprep), as Mosquitto hashes them.
    public static func saltedPassword(password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        saltedPassword(password: Array(password.utf8), salt: salt, iterations: iterations)
    }

    /// Hi(password, salt, i) over the password's bytes: PBKDF2-HMAC-SHA512 with 64 bytes of output, which is also
    /// what Mosquitto's `$7$` hashes store.
    public static func saltedPassword(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        precondition(iterations >= 1, "at least one iteration")
        // swift-crypto's checked entry point wants 210,000 rounds; SCRAM and Mosquitto's files use fewer.
        guard let key = try? KDF.Insecure.PBKDF2.deriveKey(
            from: password, salt: salt, using: .sha512, outputByteCount: 64, unsafeUncheckedRounds: iterations)
        else { fatalError("PBKDF2-HMAC-SHA512 failed") }  // BoringSSL fails only when it cannot allocate
        return key.withUnsafeBytes { Array($0) }
    }

    static func clientKey(saltedPassword: [UInt8]) -> [UInt8] {
        hmac(key: saltedPassword, Array("Client Key".utf8))
    }

    static func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA512>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    static func hash(_ bytes: [UInt8]) -> [UInt8] {
        Array(SHA512.hash(data: bytes))
    }

    static func xor(_ lhs: [UInt8], _ rhs: [UInt8]) -> [UInt8] {
        zip(lhs, rhs).map { $0 ^ $1 }
    }

    /// Compares every byte whatever the earlier ones were: the time depends on the length only.
    @inline(never)
    public static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}
