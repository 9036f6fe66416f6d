/// A password file as `tern passwd` edits it: every line kept byte for byte (comments, blank lines, other users,
/// their line endings) except the ones an edit changes.
///
/// Reading is more lenient than `PasswordFile.load`: password fields are not checked (a plain-text file must be
/// readable so that it can be upgraded), and a user defined twice is allowed (editing it removes the later
/// lines). A line that is not blank, a comment or `username:password` still throws, with its number.
public struct PasswordFileDocument: Sendable, Hashable {
    private enum Line: Sendable, Hashable {
        /// Blank or comment, with its terminator.
        case verbatim([UInt8])
        /// `username:field`; `raw` is the line as read or written, with its terminator.
        case entry(username: String, field: [UInt8], raw: [UInt8])
    }

    private var lines: [Line]

    /// An empty file.
    public init() {
        lines = []
    }

    /// Parses a file's bytes; `path` only names the file in errors.
    public init(contents: [UInt8], path: String) throws(PasswordFileError) {
        lines = try PasswordFileLine.parse(contents, path: path).map { line in
            switch line.content {
            case .ignorable: return .verbatim(Array(line.raw))
            case .entry(let username, let field): return .entry(username: username, field: Array(field), raw: Array(line.raw))
            }
        }
    }

    /// Reads and parses the file at `path`.
    public static func read(path: String) throws(PasswordFileError) -> PasswordFileDocument {
        try PasswordFileDocument(contents: PasswordFileStorage.contents(ofFile: path), path: path)
    }

    /// The users, in file order (a user defined twice appears twice).
    public var usernames: [String] {
        lines.compactMap { line in
            if case .entry(let username, _, _) = line { return username }
            return nil
        }
    }

    /// The file's bytes.
    public var contents: [UInt8] {
        lines.flatMap { line -> [UInt8] in
            switch line {
            case .verbatim(let raw), .entry(_, _, let raw): return raw
            }
        }
    }

    /// Gives `username` this password hash: its line is rewritten in place (later lines for the same user are
    /// removed), or a line is appended. Returns whether the user was already in the file.
    @discardableResult
    public mutating func setPassword(_ hash: PasswordHash, for username: String) -> Bool {
        let field = Array(hash.encoded.utf8)
        let newLine = Array(username.utf8) + [UInt8(ascii: ":")] + field + [UInt8(ascii: "\n")]
        var found = false
        var result: [Line] = []
        for line in lines {
            if case .entry(let name, _, _) = line, name.utf8.elementsEqual(username.utf8) {
                if !found { result.append(.entry(username: username, field: field, raw: newLine)) }
                found = true
            } else {
                result.append(line)
            }
        }
        if !found {
            Self.terminateLastLine(&result)
            result.append(.entry(username: username, field: field, raw: newLine))
        }
        lines = result
        return found
    }

    /// Removes every line for `username`; returns whether there was one.
    @discardableResult
    public mutating func removeUser(_ username: String) -> Bool {
        let before = lines.count
        lines.removeAll { line in
            if case .entry(let name, _, _) = line { return name.utf8.elementsEqual(username.utf8) }
            return false
        }
        return lines.count != before
    }

    /// Replaces every plain-text password with its hash, as `mosquitto_passwd -U` does; returns the number of
    /// passwords hashed.
    ///
    /// Unlike `mosquitto_passwd -U`, a field that already is a `$6$` or `$7$` hash is left alone, so running it
    /// twice (or on a file with a few new plain-text lines) does not hash hashes. As Mosquitto reads a plain-text
    /// line, the password ends at the next `:` (`user:pass:word` has the password `pass`).
    @discardableResult
    public mutating func hashPlainTextPasswords(algorithm: PasswordHash.Algorithm = .sha512PBKDF2,
                                                iterations: Int = PasswordHash.defaultIterations) -> Int {
        var count = 0
        lines = lines.map { line in
            guard case .entry(let username, let field, let raw) = line else { return line }
            if (try? PasswordHash(encoded: String(decoding: field, as: UTF8.self))) != nil { return line }
            guard let token = field.split(separator: UInt8(ascii: ":")).first else { return line }
            let password = PasswordFileLine.trimmed(token)
            // Nothing to hash (`user: :`): left as it is, for the broker to report.
            guard !password.isEmpty else { return line }
            let hash = PasswordHash.make(password: password, algorithm: algorithm, iterations: iterations)
            let encoded = Array(hash.encoded.utf8)
            count += 1
            let terminator: [UInt8] = raw.last == UInt8(ascii: "\n") ? [UInt8(ascii: "\n")] : []
            return .entry(username: username, field: encoded,
                          raw: Array(username.utf8) + [UInt8(ascii: ":")] + encoded + terminator)
        }
        return count
    }

    /// Writes `contents` to `path`, replacing the file (see `PasswordFileStorage.replace`): an existing file keeps
    /// its permissions, a new one is created with mode 0600.
    public func write(to path: String) throws(PasswordFileError) {
        try PasswordFileStorage.replace(path: path, with: contents)
    }

    private static func terminateLastLine(_ lines: inout [Line]) {
        guard let last = lines.last else { return }
        switch last {
        case .verbatim(let raw) where raw.last != UInt8(ascii: "\n"):
            lines[lines.count - 1] = .verbatim(raw + [UInt8(ascii: "\n")])
        case .entry(let username, let field, let raw) where raw.last != UInt8(ascii: "\n"):
            lines[lines.count - 1] = .entry(username: username, field: field, raw: raw + [UInt8(ascii: "\n")])
        default:
            break
        }
    }
}
