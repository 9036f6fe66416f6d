/// Something in an access control list that is valid, and used as written, but probably not what was meant.
/// The server logs these when it loads the file.
public struct AccessControlListWarning: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable, CustomStringConvertible {
        /// A `pattern` line without `%c` or `%u`: it applies to every client alike, as a `topic` line before any
        /// `user` line would not (that one applies to anonymous clients only). Mosquitto warns about it too.
        case patternWithoutSubstitution(filter: String)
        /// A `topic` or `pattern` line with a single word after the keyword, and that word is an access word:
        /// `topic read` grants read and write access to the topic named `read` (Mosquitto reads it so too).
        case accessWordAsFilter(String)

        public var description: String {
            switch self {
            case .patternWithoutSubstitution(let filter):
                return "pattern \"\(filter)\" contains neither %c nor %u, so it applies to every client alike"
            case .accessWordAsFilter(let word):
                return "\"\(word)\" is taken as the topic filter (with read and write access), not as an access word;"
                    + " was a topic filter forgotten?"
            }
        }
    }

    /// As in ``AccessControlListError/path``.
    public let path: String
    /// The 1-based line number.
    public let line: Int
    public let kind: Kind

    public init(path: String, line: Int, kind: Kind) {
        self.path = path
        self.line = line
        self.kind = kind
    }

    /// `path:line: warning: kind`.
    public var description: String { "\(path):\(line): warning: \(kind)" }
}
