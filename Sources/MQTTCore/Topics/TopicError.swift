/// Why a topic name, topic filter or shared subscription filter was rejected (section 4.7 of MQTT 3.1.1 and 5.0,
/// section 4.8.2 of MQTT 5.0).
///
/// Errors about a topic name map to reason code 0x90 (Topic Name invalid); errors about a topic filter or a
/// `$share/` filter map to 0x8F (Topic Filter invalid). See ``reasonCode``.
public enum TopicError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was being validated when a check that applies to both names and filters failed.
    public enum Subject: Hashable, Sendable {
        /// A topic name, as carried by PUBLISH (and a Will Topic).
        case topicName
        /// A topic filter, as carried by SUBSCRIBE and UNSUBSCRIBE (including a whole `$share/` filter).
        case topicFilter
    }

    /// The string is empty: topic names and filters must be at least one character long [MQTT-4.7.3-1].
    case empty(Subject)
    /// The string encodes to more than 65,535 UTF-8 bytes [MQTT-4.7.3-3].
    case tooLong(Subject)
    /// The string contains the null character U+0000 [MQTT-4.7.3-2].
    case containsNull(Subject)
    /// A topic name contains `+` or `#` [MQTT-3.3.2-2] (MQTT 3.1.1 [MQTT-4.7.1-1], MQTT 5.0 [MQTT-4.7.0-1]).
    case wildcardInTopicName
    /// A topic filter has a `#` that is not alone or the whole last level after a `/`
    /// (MQTT 3.1.1 [MQTT-4.7.1-2], MQTT 5.0 [MQTT-4.7.1-1]), as in `sport/tennis#` or `sport/#/ranking`.
    case misplacedMultiLevelWildcard
    /// A topic filter has a `+` that does not occupy an entire level
    /// (MQTT 3.1.1 [MQTT-4.7.1-3], MQTT 5.0 [MQTT-4.7.1-2]), as in `sport+`.
    case misplacedSingleLevelWildcard
    /// The ShareName of a `$share/{ShareName}/{filter}` subscription is empty or contains `+` or `#`
    /// [MQTT-4.8.2-1, MQTT-4.8.2-2].
    case invalidShareName
    /// A `$share/{ShareName}` subscription has no topic filter after the ShareName: `$share/group` or
    /// `$share/group/` [MQTT-4.8.2-2].
    case missingSharedFilter

    /// The MQTT 5 reason code that reports this error: 0x90 Topic Name invalid for a topic name, 0x8F Topic Filter
    /// invalid for a topic filter or shared subscription.
    @inlinable
    public var reasonCode: ReasonCode {
        switch self {
        case .empty(.topicName), .tooLong(.topicName), .containsNull(.topicName), .wildcardInTopicName:
            .topicNameInvalid
        case .empty(.topicFilter), .tooLong(.topicFilter), .containsNull(.topicFilter),
            .misplacedMultiLevelWildcard, .misplacedSingleLevelWildcard, .invalidShareName, .missingSharedFilter:
            .topicFilterInvalid
        }
    }

    /// A short English explanation, for logs.
    public var description: String {
        switch self {
        case .empty(let subject): "\(subject.noun) is empty"
        case .tooLong(let subject): "\(subject.noun) is longer than 65,535 UTF-8 bytes"
        case .containsNull(let subject): "\(subject.noun) contains the null character U+0000"
        case .wildcardInTopicName: "topic name contains a wildcard character (+ or #)"
        case .misplacedMultiLevelWildcard:
            "topic filter has a '#' that is not alone or the last level after a '/'"
        case .misplacedSingleLevelWildcard: "topic filter has a '+' that does not occupy an entire level"
        case .invalidShareName: "shared subscription ShareName is empty or contains '+' or '#'"
        case .missingSharedFilter: "shared subscription has no topic filter after the ShareName"
        }
    }
}

extension TopicError.Subject {
    fileprivate var noun: String {
        switch self {
        case .topicName: "topic name"
        case .topicFilter: "topic filter"
        }
    }
}
