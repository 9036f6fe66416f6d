import MQTTCore

/// A line of an access control list that Tern cannot use: the file is refused as a whole (the broker does not
/// start, or keeps its previous rules on reload), as Mosquitto refuses it. `description` names the file and line:
/// `acl:7: unknown access "writ" (expected read, write, readwrite or deny)`.
public struct AccessControlListError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong with the line.
    public enum Reason: Error, Sendable, Hashable, CustomStringConvertible {
        /// The first word is not `topic`, `pattern` or `user` (keywords are lower case; words are separated by
        /// spaces only, so `topic<TAB>read` is one word; a comment's `#` must be the line's first character).
        case unknownKeyword(String)
        /// `topic` or `pattern` with nothing after it.
        case missingTopic(keyword: String)
        /// `topic` or `pattern` with an access word other than `read`, `write`, `readwrite` or `deny` before the
        /// filter.
        case unknownAccess(String)
        /// The filter is not a valid MQTT topic filter (a misplaced wildcard, too long, ...).
        case invalidFilter(String, TopicError)
        /// `user` with no name after it.
        case missingUsername
        /// The line contains the character U+0000, which no topic or user name may contain.
        case containsNull

        public var description: String {
            switch self {
            case .unknownKeyword(let word):
                var text = "unknown keyword \"\(word)\" (expected topic, pattern or user)"
                if word.hasPrefix("#") {
                    text += "; a comment's # must be the first character of the line"
                } else if word.utf8.contains(UInt8(ascii: "\t")) {
                    text += "; words must be separated by spaces, not tabs"
                }
                return text
            case .missingTopic(let keyword): return "\"\(keyword)\" without a topic filter"
            case .unknownAccess(let word):
                return "unknown access \"\(word)\" (expected read, write, readwrite or deny)"
            case .invalidFilter(let filter, let error): return "invalid topic filter \"\(filter)\": \(error)"
            case .missingUsername: return "\"user\" without a user name"
            case .containsNull: return "the line contains a NUL character"
            }
        }
    }

    /// The name given to ``AccessControlList/init(parsing:path:)``: the file's path, for messages.
    public let path: String
    /// The 1-based line number.
    public let line: Int
    public let reason: Reason

    /// An error about `line` (1-based) of `path`.
    public init(path: String, line: Int, reason: Reason) {
        self.path = path
        self.line = line
        self.reason = reason
    }

    /// `path:line: reason`, as compilers report a position.
    public var description: String { "\(path):\(line): \(reason)" }
}
