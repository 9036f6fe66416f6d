/// A shared subscription filter `$share/{ShareName}/{filter}` (section 4.8.2 of MQTT 5.0), split into its share
/// name and the topic filter it subscribes to.
///
/// Messages matching ``topicFilter`` are distributed among the sessions subscribed with the same ``shareName`` and
/// filter. Shared subscriptions are an MQTT 5.0 feature: for an MQTT 3.1.1 client, whether `$share/...` is
/// treated as shared or as an ordinary filter is the server's choice, made by whoever calls ``init(parsing:)``.
public struct SharedSubscription: Hashable, Sendable, CustomStringConvertible {
    /// The ShareName: at least one character, without `/`, `+` or `#` [MQTT-4.8.2-1, MQTT-4.8.2-2].
    public var shareName: String
    /// The topic filter after the ShareName, e.g. `sport/#` in `$share/group/sport/#`: a valid topic filter
    /// [MQTT-4.8.2-2]. Matching uses this filter (so `$share/g/#` does not match `$SYS/x` [MQTT-4.7.2-1]).
    public var topicFilter: String

    /// Creates a shared subscription from its parts, without validating them.
    public init(shareName: String, topicFilter: String) {
        self.shareName = shareName
        self.topicFilter = topicFilter
    }

    /// Parses `filter` as a shared subscription if it starts with `$share/`; returns nil if it does not, in which
    /// case it is an ordinary topic filter (such as `$share`, `$sharex/a` or `$SHARE/g/a`) to validate with
    /// ``TopicFilter/validate(_:)``.
    ///
    /// When a shared subscription is returned, its ``topicFilter`` has been validated with
    /// ``TopicFilter/validate(_:)`` and its ``shareName`` checked, so the whole filter is valid.
    ///
    /// - Throws: for a `$share/` filter that is not valid:
    ///   - ``TopicError/tooLong(_:)`` if the whole filter exceeds 65,535 UTF-8 bytes [MQTT-4.7.3-3];
    ///   - ``TopicError/invalidShareName`` if the ShareName is empty (`$share//a`) or contains `+` or `#`
    ///     [MQTT-4.8.2-1, MQTT-4.8.2-2];
    ///   - ``TopicError/missingSharedFilter`` if nothing follows the ShareName (`$share/group`, `$share/group/`)
    ///     [MQTT-4.8.2-2];
    ///   - ``TopicError/containsNull(_:)`` if the ShareName contains U+0000 [MQTT-4.7.3-2];
    ///   - any error of ``TopicFilter/validate(_:)`` for the filter after the ShareName.
    ///
    ///   All of these report reason code 0x8F Topic Filter invalid.
    public init?(parsing filter: String) throws(TopicError) {
        let utf8 = filter.utf8
        guard utf8.starts(with: Self.prefix.utf8) else { return nil }
        if utf8.count > TopicBytes.maximumCount { throw .tooLong(.topicFilter) }  // [MQTT-4.7.3-3]
        let nameStart = utf8.index(utf8.startIndex, offsetBy: Self.prefix.utf8.count)
        // The ShareName runs up to the next '/', so it cannot contain one [MQTT-4.8.2-2].
        let nameEnd = utf8[nameStart...].firstIndex(of: TopicBytes.separator) ?? utf8.endIndex
        let name = utf8[nameStart..<nameEnd]
        if name.isEmpty { throw .invalidShareName }  // [MQTT-4.8.2-1]
        for byte in name {
            switch byte {
            case TopicBytes.singleLevelWildcard, TopicBytes.multiLevelWildcard:
                throw .invalidShareName  // [MQTT-4.8.2-2]
            case 0:
                throw .containsNull(.topicFilter)  // [MQTT-4.7.3-2]
            default:
                continue
            }
        }
        // The ShareName must be followed by '/' and a topic filter [MQTT-4.8.2-2].
        guard nameEnd != utf8.endIndex, utf8.index(after: nameEnd) != utf8.endIndex else {
            throw .missingSharedFilter
        }
        let innerFilter = String(filter[utf8.index(after: nameEnd)...])
        try TopicFilter.validate(innerFilter)
        self.shareName = String(filter[nameStart..<nameEnd])
        self.topicFilter = innerFilter
    }

    /// The prefix that marks a shared subscription.
    static let prefix = "$share/"

    /// The whole filter as sent in SUBSCRIBE: `$share/{shareName}/{topicFilter}`.
    public var description: String { "\(Self.prefix)\(shareName)/\(topicFilter)" }
}
