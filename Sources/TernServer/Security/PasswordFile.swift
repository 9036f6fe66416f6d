import TernBroker

/// The users of a Mosquitto-format password file and their password hashes, loaded once and never changed:
/// reload builds a new value.
///
/// Each line is `username:$7$ITERATIONS$SALT$HASH` (PBKDF2-SHA512, what `mosquitto_passwd` and `tern passwd` write
/// by default) or `username:$6$SALT$HASH` (salted SHA-512, Mosquitto 1.6). Blanks around the user name and the
/// hash are ignored; so are empty lines and lines whose first non-blank character is `#`. Anything else (a line
/// without `:`, a plain-text or unreadable hash, a user defined twice) makes `load` throw a `PasswordFileError`
/// with the line number: unlike Mosquitto, which drops such lines with a log message, Tern does not start with
/// a file it only half understands.
///
/// User names are compared byte for byte, as MQTT compares strings. `verify` hashes (PBKDF2 on purpose costs
/// CPU time), so call it on a thread pool, never on an event loop.
public struct PasswordFile: Sendable {
    /// The path given to `load`, or the name given to `init(contents:path:)`.
    public let path: String
    /// Every user, in file order.
    public let usernames: [String]
    private let hashes: [ExactString: PasswordHash]
    /// Checked, and thrown away, when the user is unknown: see `verify`.
    let decoy: PasswordHash

    /// Reads and parses the file at `path`.
    public static func load(path: String) throws(PasswordFileError) -> PasswordFile {
        try PasswordFile(contents: PasswordFileStorage.contents(ofFile: path), path: path)
    }

    /// Parses a file's bytes; `path` only names the file in errors.
    public init(contents: [UInt8], path: String) throws(PasswordFileError) {
        var hashes: [ExactString: PasswordHash] = [:]
        var lineOfUser: [ExactString: Int] = [:]
        var usernames: [String] = []
        var costs: [Cost: Int] = [:]
        for line in try PasswordFileLine.parse(contents, path: path) {
            guard case .entry(let username, let field) = line.content else { continue }
            let key = ExactString(username)
            if let first = lineOfUser[key] {
                throw PasswordFileError(path: path, line: line.number,
                                        reason: .duplicateUser(username: username, firstLine: first))
            }
            let hash: PasswordHash
            do {
                hash = try PasswordHash(encoded: String(decoding: field, as: UTF8.self))
            } catch {
                throw PasswordFileError(path: path, line: line.number, reason: .invalidHash(username: username, error))
            }
            hashes[key] = hash
            lineOfUser[key] = line.number
            usernames.append(username)
            costs[Cost(hash), default: 0] += 1
        }
        self.path = path
        self.hashes = hashes
        self.usernames = usernames
        // The decoy costs what most users' hashes cost, so an unknown user name takes as long as a wrong password
        // for a typical user (ties go to the dearer hash).
        let typical = costs.max { ($0.value, $0.key.iterations) < ($1.value, $1.key.iterations) }?.key
        self.decoy = PasswordHash.decoy(
            like: typical?.model ?? .sha512PBKDF2(iterations: PasswordHash.defaultIterations, salt: [], hash: []))
    }

    /// The hash of `username`'s password; nil for an unknown user.
    public func hash(of username: String) -> PasswordHash? {
        hashes[ExactString(username)]
    }

    /// Whether the file has a line for `username`.
    public func contains(username: String) -> Bool {
        hashes[ExactString(username)] != nil
    }

    /// Whether `password` is the password of `username`.
    ///
    /// An unknown user, a missing password (nil: the CONNECT had none) and a wrong password all return false
    /// after the same hashing work (an unknown user's password is checked against a decoy hash with the file's
    /// typical cost), so the time taken does not tell an attacker which user names exist. The computed hash is
    /// compared in constant time.
    public func verify(username: String, password: [UInt8]?) -> Bool {
        let hash = hashes[ExactString(username)]
        let matches = (hash ?? decoy).matches(password ?? [])
        return hash != nil && password != nil && matches
    }

    /// Whether `password` (its UTF-8 bytes) is the password of `username`; see `verify(username:password:)`.
    public func verify(username: String, password: String) -> Bool {
        verify(username: username, password: Array(password.utf8))
    }

    /// A new password field for `password`, such as `$7$101$SALT$HASH`, with a fresh random 12-byte salt.
    ///
    /// - Parameters:
    ///   - algorithm: `.sha512PBKDF2` (`$7$`, the default) or `.sha512` (`$6$`, for Mosquitto 1.6 and earlier).
    ///   - iterations: PBKDF2 iterations, 101 by default as `mosquitto_passwd` writes; ignored for `.sha512`.
    public static func hash(password: String, algorithm: PasswordHash.Algorithm = .sha512PBKDF2,
                            iterations: Int = PasswordHash.defaultIterations) -> String {
        PasswordHash.make(password: Array(password.utf8), algorithm: algorithm, iterations: iterations).encoded
    }

    /// The work one check of a hash costs.
    private struct Cost: Hashable {
        let algorithm: PasswordHash.Algorithm
        let iterations: Int

        init(_ hash: PasswordHash) {
            switch hash {
            case .sha512: (algorithm, iterations) = (.sha512, 0)
            case .sha512PBKDF2(let iterations, _, _): (algorithm, self.iterations) = (.sha512PBKDF2, iterations)
            }
        }

        var model: PasswordHash {
            switch algorithm {
            case .sha512: return .sha512(salt: [], hash: [])
            case .sha512PBKDF2: return .sha512PBKDF2(iterations: iterations, salt: [], hash: [])
            }
        }
    }
}
