/// A Mosquitto access control list (`acl_file`): which topics each client may publish to and receive from.
///
/// The file, line by line (see `AccessControlLine` for the exact reading, which is Mosquitto 2.0's):
///
/// ```
/// # A comment: '#' as the first character of the line (a '#' after a rule is part of its filter).
/// # Rules before any `user` line: anonymous clients.
/// topic read $SYS/#
/// # Rules from here on: the client that authenticated as `roger`. No access word: read and write.
/// user roger
/// topic foo/bar
/// topic deny foo/bar/secret
/// # Pattern lines, wherever they are: every client, with %u and %c substituted.
/// pattern write sensor/%u/data
/// ```
///
/// A client's access to a topic is decided as Mosquitto 2.0 decides it, in this order:
/// 1. its own list (the rules after `user NAME` for its user name, all such sections merged; the rules before
///    the first `user` line if it has no user name): a matching `deny` rule denies; otherwise a matching rule
///    granting the access allows;
/// 2. the `pattern` rules, with `%c` replaced by the client identifier and `%u` by the user name (a pattern with
///    `%u` does not apply to a client without one): a matching `deny` pattern denies; otherwise a matching
///    pattern granting the access allows; a client whose user name or client identifier contains `+` or `#` is
///    denied everything that step 1 did not allow (it could otherwise widen a pattern into a wildcard);
/// 3. anything else is denied.
///
/// So within one list `deny` wins whatever the order of the lines, but an allow in a client's own list wins over
/// a `deny` pattern. A client with a user name that has no section gets only the patterns; the anonymous rules
/// never apply to it. An empty user name counts as none (Mosquitto reads a zero-length user name as absent).
/// Filters match as subscriptions do, so `#` and `+/...` do not reach topics starting with `$`: reading
/// `$SYS/...` needs a rule such as `topic read $SYS/#`. Publishing to `$SYS/...` and `$share...` is refused
/// whatever the list says (see ``ReservedTopic``).
///
/// An empty list (or one with only comments) denies everything. Parse once; the value is immutable and
/// `Sendable`. Compile a client's rules once per connection with ``rules(clientID:username:)`` and ask the
/// returned ``ClientAccessRules`` on the hot path.
public struct AccessControlList: Sendable {
    /// The name given to ``init(parsing:path:)``.
    public let path: String
    /// The `topic` rules before the first `user` line: those of clients without a user name, in file order.
    public let anonymousRules: [AccessRule]
    /// The user names with a `user` section, in the order of their first section.
    public let usernames: [String]
    /// The `pattern` rules, wherever they appear, in file order.
    public let patterns: [AccessRule]
    /// Lines that are valid but probably a mistake, for the server to log.
    public let warnings: [AccessControlListWarning]
    private let rulesOfUser: [ExactString: [AccessRule]]

    /// Parses the text of an access control list; `path` only names the file in errors and warnings.
    ///
    /// - Throws: ``AccessControlListError`` for the first line Mosquitto would refuse (an unknown keyword or access
    ///   word, a missing filter or user name, an invalid topic filter), with its line number.
    public init(parsing text: String, path: String) throws(AccessControlListError) {
        var anonymousRules: [AccessRule] = []
        var usernames: [String] = []
        var rulesOfUser: [ExactString: [AccessRule]] = [:]
        var patterns: [AccessRule] = []
        var warnings: [AccessControlListWarning] = []
        var currentUser: ExactString?

        let bytes = Array(text.utf8)
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            lineNumber += 1
            let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            let parsed: AccessControlLine
            do {
                parsed = try AccessControlLine.parse(bytes[start..<newline])
            } catch {
                throw AccessControlListError(path: path, line: lineNumber, reason: error)
            }
            start = newline + 1
            switch parsed {
            case .ignorable:
                continue
            case .user(let name):
                let key = ExactString(name)
                if rulesOfUser[key] == nil {
                    rulesOfUser[key] = []
                    usernames.append(name)
                }
                currentUser = key
            case .rule(let isPattern, let access, let filter, let accessWordAsFilter):
                let rule = AccessRule(access: access, filter: filter, line: lineNumber)
                if accessWordAsFilter {
                    warnings.append(AccessControlListWarning(path: path, line: lineNumber,
                                                             kind: .accessWordAsFilter(filter)))
                }
                if isPattern {
                    if !filter.contains("%c") && !filter.contains("%u") {
                        warnings.append(AccessControlListWarning(path: path, line: lineNumber,
                                                                 kind: .patternWithoutSubstitution(filter: filter)))
                    }
                    patterns.append(rule)
                } else if let currentUser {
                    rulesOfUser[currentUser, default: []].append(rule)
                } else {
                    anonymousRules.append(rule)
                }
            }
        }
        self.path = path
        self.anonymousRules = anonymousRules
        self.usernames = usernames
        self.rulesOfUser = rulesOfUser
        self.patterns = patterns
        self.warnings = warnings
    }

    /// The `topic` rules of the sections for `username` (byte-for-byte equal), merged in file order; empty if it
    /// has none.
    public func rules(ofUser username: String) -> [AccessRule] {
        rulesOfUser[ExactString(username)] ?? []
    }

    /// The rules of one client, with patterns substituted: compile once when the client connects (and again if
    /// its user name changes), then check every publish and delivery against the result.
    ///
    /// - Parameters:
    ///   - clientID: the client identifier the broker uses for the client (the assigned one, for a client that
    ///     sent an empty one).
    ///   - username: the user name the client authenticated with; nil or empty for an anonymous client.
    public func rules(clientID: String, username: String?) -> ClientAccessRules {
        let username = username?.isEmpty == true ? nil : username
        let own = username.map { rules(ofUser: $0) } ?? anonymousRules
        // A '+' or '#' in a substituted value would turn a pattern into a wider filter (CVE-2017-7650): such a
        // client gets no pattern rules at all, as in Mosquitto.
        let dangerous = Self.containsWildcard(clientID) || username.map(Self.containsWildcard) == true
        var substituted: [(AccessRule.Access, String)] = []
        if !dangerous {
            for pattern in patterns {
                if let filter = Self.substitute(pattern.filter, clientID: clientID, username: username) {
                    substituted.append((pattern.access, filter))
                }
            }
        }
        return ClientAccessRules(own: own.map { ($0.access, $0.filter) }, patterns: substituted)
    }

    /// Whether the client may publish to `topic` (a valid topic name). Compiles the client's rules on every call:
    /// the broker should keep ``rules(clientID:username:)`` instead.
    public func mayPublish(topic: String, clientID: String, username: String?) -> Bool {
        rules(clientID: clientID, username: username).mayPublish(topic: topic)
    }

    /// Whether a message on `topic` (a valid topic name) may be delivered to the client. Compiles the client's
    /// rules on every call: the broker should keep ``rules(clientID:username:)`` instead.
    public func mayReceive(topic: String, clientID: String, username: String?) -> Bool {
        rules(clientID: clientID, username: username).mayReceive(topic: topic)
    }

    /// Whether the client's subscription to `filter` is granted; see ``ClientAccessRules/maySubscribe(filter:check:)``.
    public func maySubscribe(filter: String, clientID: String, username: String?,
                             check: ClientAccessRules.SubscriptionCheck = .mosquitto) -> Bool
    {
        rules(clientID: clientID, username: username).maySubscribe(filter: filter, check: check)
    }

    static func containsWildcard(_ string: String) -> Bool {
        string.utf8.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }
    }

    /// `pattern` with every `%c` replaced by `clientID` and every `%u` by `username`, scanning left to right as
    /// Mosquitto does; nil if the pattern has a `%u` and there is no user name (the pattern does not apply).
    static func substitute(_ pattern: String, clientID: String, username: String?) -> String? {
        let percent = UInt8(ascii: "%")
        let bytes = Array(pattern.utf8)
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count + clientID.utf8.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == percent && index + 1 < bytes.count {
                switch bytes[index + 1] {
                case UInt8(ascii: "c"):
                    result.append(contentsOf: clientID.utf8)
                    index += 2
                    continue
                case UInt8(ascii: "u"):
                    guard let username else { return nil }
                    result.append(contentsOf: username.utf8)
                    index += 2
                    continue
                default:
                    break
                }
            }
            result.append(bytes[index])
            index += 1
        }
        return String(decoding: result, as: UTF8.self)
    }
}
