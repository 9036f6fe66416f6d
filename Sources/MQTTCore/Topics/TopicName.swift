/// Topic names: the topic that a PUBLISH (or a Will Message) is sent to (section 4.7 of MQTT 3.1.1 and 5.0).
///
/// A topic name is one or more levels separated by `/`. Levels may be empty: `a//b`, `/a` and `a/` are valid,
/// and differ from `a/b` and `a`. Names are case-sensitive and may contain spaces and any Unicode
/// character other than U+0000. Names starting with `$` (such as `$SYS/...`) are valid but are not matched by
/// filters that start with a wildcard (see ``TopicFilter/matches(_:topicName:)``).
public enum TopicName {
    /// Checks that `topicName` is a valid topic name, throwing the first problem found.
    ///
    /// Rules enforced:
    /// - at least one character [MQTT-4.7.3-1];
    /// - at most 65,535 UTF-8 bytes [MQTT-4.7.3-3];
    /// - no null character U+0000 [MQTT-4.7.3-2];
    /// - no wildcard character `+` or `#` [MQTT-3.3.2-2] (MQTT 3.1.1 [MQTT-4.7.1-1], MQTT 5.0 [MQTT-4.7.0-1]).
    ///
    /// The other UTF-8 string rules (well-formed UTF-8, no surrogates) are the decoder's business: a Swift `String`
    /// cannot hold ill-formed UTF-8. Control characters and non-characters, which the standards only discourage
    /// (SHOULD NOT), are accepted.
    ///
    /// - Throws: ``TopicError/empty(_:)``, ``TopicError/tooLong(_:)`` or ``TopicError/containsNull(_:)`` with
    ///   subject ``TopicError/Subject/topicName``, or ``TopicError/wildcardInTopicName``. All of these report
    ///   reason code 0x90 Topic Name invalid.
    @inlinable
    public static func validate(_ topicName: String) throws(TopicError) {
        let utf8 = topicName.utf8
        if utf8.isEmpty { throw .empty(.topicName) }  // [MQTT-4.7.3-1]
        if utf8.count > TopicBytes.maximumCount { throw .tooLong(.topicName) }  // [MQTT-4.7.3-3]
        let problem: TopicError? = TopicBytes.withUTF8(topicName) { bytes in
            for byte in bytes {
                switch byte {
                case 0: return .containsNull(.topicName)  // [MQTT-4.7.3-2]
                case TopicBytes.singleLevelWildcard, TopicBytes.multiLevelWildcard:
                    return .wildcardInTopicName  // [MQTT-3.3.2-2]
                default: continue
                }
            }
            return nil
        }
        if let problem { throw problem }
    }
}
