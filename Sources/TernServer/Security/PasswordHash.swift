import Crypto
import Foundation
import TernSCRAM

/// A salted password hash as Mosquitto writes it in password files (the part after `user:`).
///
/// - `$7$ITERATIONS$SALT$HASH`: PBKDF2-HMAC-SHA512, Mosquitto 2.0's default (`mosquitto_passwd -H sha512-pbkdf2`).
/// - `$6$SALT$HASH`: SHA-512 of the password's bytes followed by the salt's, Mosquitto 1.6's format
///   (`mosquitto_passwd -H sha512`).
///
/// SALT is 12 bytes and HASH 64 bytes, both in standard Base64 with padding, as Mosquitto requires.
public enum PasswordHash: Sendable, Hashable {
    /// `$6$SALT$HASH`: one SHA-512 over the password followed by the salt.
    case sha512(salt: [UInt8], hash: [UInt8])
    /// `$7$ITERATIONS$SALT$HASH`: PBKDF2 with HMAC-SHA512, 64 bytes of output.
    case sha512PBKDF2(iterations: Int, salt: [UInt8], hash: [UInt8])

    /// The hashing schemes, named as `mosquitto_passwd -H` names them.
    public enum Algorithm: String, Sendable, Hashable, CaseIterable {
        /// `$6$`: kept for Mosquitto 1.6 and earlier; weak against offline guessing.
        case sha512 = "sha512"
        /// `$7$`: the default.
        case sha512PBKDF2 = "sha512-pbkdf2"
    }

    /// Bytes of salt in every hash Mosquitto writes or accepts.
    public static let saltByteCount = 12
    /// Bytes of a SHA-512 digest, and of the PBKDF2 output Mosquitto stores.
    public static let hashByteCount = 64
    /// The PBKDF2 iteration count `mosquitto_passwd` 2.0 writes (its `PW_DEFAULT_ITERATIONS`).
    public static let defaultIterations = 101
    /// The largest iteration count accepted: Mosquitto reads it into a C `int`.
    public static let maximumIterations = Int(Int32.max)

    /// Why a password field is not a hash this type can read.
    public enum FormatError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The field does not start with `$`: most likely a plain-text password.
        case notHashed
        /// `$N$` with an N other than 6 or 7.
        case unknownAlgorithm(String)
        /// The wrong number of `$`-separated fields for the algorithm.
        case wrongFieldCount(algorithm: Algorithm)
        /// The PBKDF2 iteration count is not a decimal number between 1 and `maximumIterations`.
        case invalidIterations(String)
        /// The salt is not Base64, or does not decode to `saltByteCount` bytes.
        case invalidSalt
        /// The hash is not Base64, or does not decode to `hashByteCount` bytes.
        case invalidHash

        public var description: String {
            switch self {
            case .notHashed:
                return "the password is not hashed (a plain-text password file? hash it with `tern passwd -U FILE`)"
            case .unknownAlgorithm(let name):
                return "unknown hash type '$\(name)$' (expected $7$ for sha512-pbkdf2 or $6$ for sha512)"
            case .wrongFieldCount(.sha512PBKDF2):
                return "a $7$ hash has the form $7$ITERATIONS$SALT$HASH"
            case .wrongFieldCount(.sha512):
                return "a $6$ hash has the form $6$SALT$HASH"
            case .invalidIterations(let text):
                return "invalid iteration count '\(text)' (expected 1 to \(PasswordHash.maximumIterations))"
            case .invalidSalt:
                return "the salt is not \(PasswordHash.saltByteCount) bytes of Base64"
            case .invalidHash:
                return "the hash is not \(PasswordHash.hashByteCount) bytes of Base64"
            }
        }
    }

    /// Parses a password field such as `$7$101$SALT$HASH` (no surrounding blanks).
    public init(encoded: String) throws(FormatError) {
        let fields = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count >= 2, fields[0].isEmpty else { throw .notHashed }
        switch fields[1] {
        case "6":
            guard fields.count == 4 else { throw .wrongFieldCount(algorithm: .sha512) }
            self = .sha512(salt: try Self.decode(fields[2], count: Self.saltByteCount, error: .invalidSalt),
                           hash: try Self.decode(fields[3], count: Self.hashByteCount, error: .invalidHash))
        case "7":
            guard fields.count == 5 else { throw .wrongFieldCount(algorithm: .sha512PBKDF2) }
            let text = fields[2]
            guard !text.isEmpty, text.utf8.count <= 10, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
                  let iterations = Int(text), (1...Self.maximumIterations).contains(iterations)
            else { throw .invalidIterations(String(text)) }
            self = .sha512PBKDF2(
                iterations: iterations,
                salt: try Self.decode(fields[3], count: Self.saltByteCount, error: .invalidSalt),
                hash: try Self.decode(fields[4], count: Self.hashByteCount, error: .invalidHash))
        default:
            throw .unknownAlgorithm(String(fields[1]))
        }
    }

    /// Hashes `password` with a fresh random salt.
    ///
    /// - Parameters:
    ///   - algorithm: `.sha512PBKDF2` unless the file must be read by Mosquitto 1.6 or earlier.
    ///   - iterations: PBKDF2 iterations (ignored for `.sha512`); at least 1, at most `maximumIterations`.
    public static func make(password: some Collection<UInt8>, algorithm: Algorithm = .sha512PBKDF2,
                            iterations: Int = defaultIterations) -> PasswordHash {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<saltByteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return make(password: password, algorithm: algorithm, iterations: iterations, salt: salt)
    }

    /// Hashes `password` with the given salt (tests use this to reproduce known vectors).
    static func make(password: some Collection<UInt8>, algorithm: Algorithm, iterations: Int, salt: [UInt8])
        -> PasswordHash
    {
        precondition((1...maximumIterations).contains(iterations), "iterations must be between 1 and \(maximumIterations)")
        let bytes = Array(password)
        switch algorithm {
        case .sha512:
            return .sha512(salt: salt, hash: digestSHA512(password: bytes, salt: salt))
        case .sha512PBKDF2:
            return .sha512PBKDF2(iterations: iterations, salt: salt,
                                 hash: derivePBKDF2(password: bytes, salt: salt, iterations: iterations))
        }
    }

    /// The algorithm this hash was made with.
    public var algorithm: Algorithm {
        switch self {
        case .sha512: return .sha512
        case .sha512PBKDF2: return .sha512PBKDF2
        }
    }

    /// What SCRAM-SHA-512 needs of the password: a `$7$` hash is PBKDF2-HMAC-SHA512 with a 64-byte output, which is
    /// SCRAM's SaltedPassword. Nil for `$6$`, a single SHA-512 SCRAM cannot use.
    public var scramCredentials: SCRAMCredentials? {
        guard case .sha512PBKDF2(let iterations, let salt, let hash) = self else { return nil }
        return SCRAMCredentials(saltedPassword: hash, salt: salt, iterations: iterations)
    }

    /// The field as it is written in a password file: `$7$101$SALT$HASH` or `$6$SALT$HASH`.
    public var encoded: String {
        switch self {
        case .sha512(let salt, let hash):
            return "$6$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
        case .sha512PBKDF2(let iterations, let salt, let hash):
            return "$7$\(iterations)$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
        }
    }

    /// Whether `password` hashes to this value. Always does the full hashing work, and compares the result in
    /// time that does not depend on where (or whether) the bytes differ.
    public func matches(_ password: some Collection<UInt8>) -> Bool {
        let bytes = Array(password)
        switch self {
        case .sha512(let salt, let hash):
            return Self.constantTimeEquals(Self.digestSHA512(password: bytes, salt: salt), hash)
        case .sha512PBKDF2(let iterations, let salt, let hash):
            return Self.constantTimeEquals(Self.derivePBKDF2(password: bytes, salt: salt, iterations: iterations), hash)
        }
    }

    /// The same amount of hashing work as `matches` on a hash like this one, with a fresh salt: what a lookup of
    /// an unknown user costs, so that it takes as long as a wrong password for a known one.
    static func decoy(like model: PasswordHash) -> PasswordHash {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<saltByteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let hash = (0..<hashByteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        switch model {
        case .sha512: return .sha512(salt: salt, hash: hash)
        case .sha512PBKDF2(let iterations, _, _): return .sha512PBKDF2(iterations: iterations, salt: salt, hash: hash)
        }
    }

    // MARK: - Primitives

    private static func digestSHA512(password: [UInt8], salt: [UInt8]) -> [UInt8] {
        var hasher = SHA512()
        hasher.update(data: password)
        hasher.update(data: salt)
        return Array(hasher.finalize())
    }

    private static func derivePBKDF2(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        SCRAMCredentials.saltedPassword(password: password, salt: salt, iterations: iterations)
    }

    /// Compares every byte whatever the earlier ones were: the time depends on the length only (public: 64).
    static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        SCRAMCredentials.constantTimeEquals(lhs, rhs)
    }

    private static func decode(_ text: Substring, count: Int, error: FormatError) throws(FormatError) -> [UInt8] {
        guard let data = Data(base64Encoded: String(text)), data.count == count else { throw error }
        return Array(data)
    }
}
