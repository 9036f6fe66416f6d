/// Topic filters: what SUBSCRIBE and UNSUBSCRIBE carry, and the matching of topic names against them (section 4.7
/// of MQTT 3.1.1 and 5.0).
///
/// A topic filter is a topic name that may also use two wildcards, each of which must occupy a whole level:
/// - `+` matches exactly one level, which may be empty: `sport/+/player1`, `+/+`, `/+`;
/// - `#` matches any number of levels, including the parent level, and must be the last level: `#`, `sport/#`
///   (which also matches `sport`).
///
/// A shared subscription `$share/{ShareName}/{filter}` is parsed with ``SharedSubscription/init(parsing:)``
/// first; to this type, the whole `$share/...` string is just an ordinary filter.
public enum TopicFilter {
    /// Checks that `topicFilter` is a valid topic filter, throwing the first problem found.
    ///
    /// Rules enforced:
    /// - at least one character [MQTT-4.7.3-1];
    /// - at most 65,535 UTF-8 bytes [MQTT-4.7.3-3];
    /// - no null character U+0000 [MQTT-4.7.3-2];
    /// - `#` only on its own or as the last level after a `/` (MQTT 3.1.1 [MQTT-4.7.1-2], MQTT 5.0 [MQTT-4.7.1-1]);
    /// - `+` only as an entire level (MQTT 3.1.1 [MQTT-4.7.1-3], MQTT 5.0 [MQTT-4.7.1-2]).
    ///
    /// Empty levels are allowed (`a//b`, `/+`). A `$share/` prefix is not interpreted here.
    ///
    /// - Throws: ``TopicError/empty(_:)``, ``TopicError/tooLong(_:)`` or ``TopicError/containsNull(_:)`` with
    ///   subject ``TopicError/Subject/topicFilter``, ``TopicError/misplacedMultiLevelWildcard`` or
    ///   ``TopicError/misplacedSingleLevelWildcard``. All of these report reason code 0x8F Topic Filter invalid.
    @inlinable
    public static func validate(_ topicFilter: String) throws(TopicError) {
        let utf8 = topicFilter.utf8
        if utf8.isEmpty { throw .empty(.topicFilter) }  // [MQTT-4.7.3-1]
        if utf8.count > TopicBytes.maximumCount { throw .tooLong(.topicFilter) }  // [MQTT-4.7.3-3]
        let problem = TopicBytes.withUTF8(topicFilter) { bytes in validationProblem(in: bytes) }
        if let problem { throw problem }
    }

    /// The first null character or misplaced wildcard in the non-empty filter `bytes`, if any.
    @inlinable
    static func validationProblem(in bytes: UnsafeBufferPointer<UInt8>) -> TopicError? {
        let last = bytes.count - 1
        var atLevelStart = true
        var index = 0
        while index <= last {
            let byte = bytes[index]
            switch byte {
            case 0:
                return .containsNull(.topicFilter)  // [MQTT-4.7.3-2]
            case TopicBytes.multiLevelWildcard:
                // Alone or after a '/', and the last character [MQTT-4.7.1-2 (3.1.1)] [MQTT-4.7.1-1 (5.0)].
                if !atLevelStart || index != last { return .misplacedMultiLevelWildcard }
            case TopicBytes.singleLevelWildcard:
                // The entire level [MQTT-4.7.1-3 (3.1.1)] [MQTT-4.7.1-2 (5.0)].
                if !atLevelStart || (index != last && bytes[index + 1] != TopicBytes.separator) {
                    return .misplacedSingleLevelWildcard
                }
            default:
                break
            }
            atLevelStart = byte == TopicBytes.separator
            index += 1
        }
        return nil
    }

    /// Whether `topicFilter` contains a wildcard (`+` or `#`), that is, whether it can match more than one topic
    /// name. For a valid filter, a filter without wildcards matches exactly the topic name equal to it.
    @inlinable
    public static func containsWildcards(_ topicFilter: String) -> Bool {
        TopicBytes.withUTF8(topicFilter) { bytes in
            for byte in bytes where byte == TopicBytes.singleLevelWildcard || byte == TopicBytes.multiLevelWildcard {
                return true
            }
            return false
        }
    }

    /// Whether the topic filter `filter` matches the topic name `topicName`.
    ///
    /// - `+` matches exactly one level, which may be empty: `sport/+` matches `sport/` but not `sport` or
    ///   `sport/a/b`; `+/+` and `/+` match `/finance`, `+` does not.
    /// - `#` matches the parent level and any number of child levels: `sport/#` matches `sport`, `sport/` and
    ///   `sport/tennis/player1`; `#` matches every topic name (except as below).
    /// - A filter starting with a wildcard does not match a topic name starting with `$` [MQTT-4.7.2-1]: neither
    ///   `#` nor `+/monitor/Clients` matches `$SYS/monitor/Clients`, but `$SYS/#` does.
    /// - Everything else compares byte for byte (case-sensitive, no normalisation).
    ///
    /// The comparison walks the UTF-8 bytes of both strings once, without splitting them or allocating.
    ///
    /// - Precondition: `filter` is a valid topic filter (``validate(_:)``; for a shared subscription, its inner
    ///   filter) and `topicName` a valid topic name (``TopicName/validate(_:)``). Other inputs give an
    ///   unspecified result, but never crash.
    @inlinable
    public static func matches(_ filter: String, topicName: String) -> Bool {
        TopicBytes.withUTF8(filter) { filterBytes in
            TopicBytes.withUTF8(topicName) { topicBytes in
                matches(filterBytes: filterBytes, topicNameBytes: topicBytes)
            }
        }
    }

    /// ``matches(_:topicName:)`` on UTF-8 bytes.
    @inlinable
    static func matches(filterBytes filter: UnsafeBufferPointer<UInt8>,
                        topicNameBytes topic: UnsafeBufferPointer<UInt8>) -> Bool
    {
        let filterCount = filter.count
        let topicCount = topic.count
        guard filterCount > 0, topicCount > 0 else { return false }
        // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic name starting with '$'.
        if topic[0] == TopicBytes.dollar
            && (filter[0] == TopicBytes.multiLevelWildcard || filter[0] == TopicBytes.singleLevelWildcard)
        {
            return false
        }
        var f = 0  // index into filter
        var t = 0  // index into topic
        // Each turn starts with `f` and `t` at the start of a level (possibly an empty one at the end).
        while true {
            if f < filterCount && filter[f] == TopicBytes.multiLevelWildcard {
                // '#' is the last level of a valid filter: it matches this level and all that follow.
                return true
            }
            if f < filterCount && filter[f] == TopicBytes.singleLevelWildcard {
                // '+' matches this whole level of the topic, whatever it holds.
                f += 1
                while t < topicCount && topic[t] != TopicBytes.separator { t += 1 }
            } else {
                // A literal level must equal the topic's level byte for byte.
                while f < filterCount {
                    let byte = filter[f]
                    if byte == TopicBytes.separator { break }
                    if t == topicCount || topic[t] != byte { return false }
                    f += 1
                    t += 1
                }
                if t < topicCount && topic[t] != TopicBytes.separator { return false }
            }
            // Both are now at the end of a level: at the end of the string or at a '/'.
            if f == filterCount { return t == topicCount }
            if filter[f] != TopicBytes.separator { return false }  // only for invalid filters such as "+a"
            if t == topicCount {
                // The topic has no more levels: only a final "/#" still matches (its parent level is this one).
                return filterCount - f == 2 && filter[f + 1] == TopicBytes.multiLevelWildcard
            }
            f += 1
            t += 1
        }
    }
}
