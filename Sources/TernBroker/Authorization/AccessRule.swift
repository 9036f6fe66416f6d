/// One `topic` or `pattern` line of an access control list: what it grants (or denies) and on which topics.
public struct AccessRule: Sendable, Hashable, CustomStringConvertible {
    /// The access word of the line.
    public enum Access: String, Sendable, Hashable, CaseIterable {
        /// `read`: the client may receive messages on matching topics.
        case read
        /// `write`: the client may publish to matching topics.
        case write
        /// `readwrite`, or no access word at all: both.
        case readWrite = "readwrite"
        /// `deny`: neither, whatever other lines of the same list grant (see ``AccessControlList``).
        case deny

        /// Whether the rule grants receiving.
        public var grantsRead: Bool { self == .read || self == .readWrite }
        /// Whether the rule grants publishing.
        public var grantsWrite: Bool { self == .write || self == .readWrite }
    }

    /// What the rule grants or denies.
    public let access: Access
    /// The topic filter as written in the file. For a `pattern` rule it may contain `%c` (the client identifier)
    /// and `%u` (the user name), substituted per client by ``AccessControlList/rules(clientID:username:)``.
    public let filter: String
    /// The 1-based line of the file that defined the rule.
    public let line: Int

    /// A rule with `access` on `filter`, defined on `line`.
    public init(access: Access, filter: String, line: Int) {
        self.access = access
        self.filter = filter
        self.line = line
    }

    /// The rule as a line of the file would say it, without the `topic`/`pattern` keyword: `read a/#`.
    public var description: String { "\(access.rawValue) \(filter)" }
}
