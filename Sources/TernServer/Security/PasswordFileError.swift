#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A password file that cannot be used: unreadable, or with a line that is not `username:hash`. The broker
/// refuses to start (or keeps its previous users on reload) and reports `description`, which names the file
/// and the line.
public struct PasswordFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public enum Reason: Error, Sendable, Hashable, CustomStringConvertible {
        /// The file could not be opened or read (`errno`).
        case unreadable(errno: Int32)
        /// The file could not be written (`errno`); `tern passwd` only.
        case unwritable(errno: Int32)
        /// A line that is neither blank, a `#` comment, nor contains `:`.
        case missingSeparator
        /// Nothing (but blanks) before the `:`.
        case emptyUsername
        /// More than 65,535 bytes of user name, which no MQTT client can send.
        case usernameTooLong
        /// A user name that is not UTF-8, which no MQTT client can send.
        case usernameNotUTF8
        /// A user name with a U+0000 character, which MQTT forbids.
        case usernameContainsNull
        /// Nothing (but blanks) after the `:`.
        case missingPassword(username: String)
        /// The text after the `:` is not a `$6$` or `$7$` hash Tern can check.
        case invalidHash(username: String, PasswordHash.FormatError)
        /// The user already has a line; `firstLine` is its number.
        case duplicateUser(username: String, firstLine: Int)

        public var description: String {
            switch self {
            case .unreadable(let code): return "cannot read the file: \(Self.message(code))"
            case .unwritable(let code): return "cannot write the file: \(Self.message(code))"
            case .missingSeparator: return "expected username:password_hash (no ':' on this line)"
            case .emptyUsername: return "empty user name before ':'"
            case .usernameTooLong: return "user name longer than 65535 bytes"
            case .usernameNotUTF8: return "user name is not valid UTF-8"
            case .usernameContainsNull: return "user name contains a NUL character"
            case .missingPassword(let username): return "user '\(username)': no password hash after ':'"
            case .invalidHash(let username, let error): return "user '\(username)': \(error)"
            case .duplicateUser(let username, let firstLine):
                return "user '\(username)' is already defined on line \(firstLine)"
            }
        }

        static func message(_ code: Int32) -> String {
            guard let text = strerror(code) else { return "error \(code)" }
            return String(cString: text)
        }
    }

    /// The file as it was given to `load` (or the name given to an in-memory parse).
    public let path: String
    /// The 1-based line number, nil for errors about the whole file.
    public let line: Int?
    public let reason: Reason

    /// An error about `path`, at `line` (1-based) or about the whole file (nil).
    public init(path: String, line: Int?, reason: Reason) {
        self.path = path
        self.line = line
        self.reason = reason
    }

    /// `path:line: reason`, as compilers report a position.
    public var description: String {
        if let line { return "\(path):\(line): \(reason)" }
        return "\(path): \(reason)"
    }
}
