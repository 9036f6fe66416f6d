import MQTTCore
import Testing

/// What parsing a filter as a shared subscription gives.
enum SharedSubscriptionParse: Sendable, Equatable {
    /// Not a `$share/` filter: an ordinary filter.
    case ordinary
    /// A shared subscription with this ShareName and topic filter.
    case shared(String, String)
    /// A `$share/` filter that is invalid.
    case invalid(TopicError)
}

/// Section 4.8.2 of MQTT 5.0: `$share/{ShareName}/{filter}`.
private let sharedSubscriptionCases: [(String, SharedSubscriptionParse)] = [
    ("$share/consumer1/sport/tennis/+", .shared("consumer1", "sport/tennis/+")),
    ("$share/consumer2/sport/tennis/+", .shared("consumer2", "sport/tennis/+")),
    ("$share/consumer1//finance", .shared("consumer1", "/finance")),
    ("$share/consumer1/+/finance", .shared("consumer1", "+/finance")),
    ("$share/group/#", .shared("group", "#")),
    ("$share/group/+", .shared("group", "+")),
    ("$share/group//", .shared("group", "/")),
    ("$share/group/$SYS/#", .shared("group", "$SYS/#")),
    ("$share/group/$share/other/a", .shared("group", "$share/other/a")),
    ("$share/g/a", .shared("g", "a")),
    ("$share/$share/a", .shared("$share", "a")),
    ("$share/grüppe/日本/#", .shared("grüppe", "日本/#")),
    ("$share/a b/c d", .shared("a b", "c d")),
    // Not shared subscriptions: ordinary filters.
    ("$share", .ordinary),
    ("$sharex/a", .ordinary),
    ("$shared/group/a", .ordinary),
    ("$SHARE/group/a", .ordinary),  // case-sensitive
    ("share/group/a", .ordinary),
    ("/$share/group/a", .ordinary),
    ("$SYS/#", .ordinary),
    ("sport/#", .ordinary),
    ("#", .ordinary),
    ("+/share/a", .ordinary),
    ("", .ordinary),
    // Invalid shared subscriptions.
    ("$share/", .invalid(.invalidShareName)),  // [MQTT-4.8.2-1]
    ("$share//a", .invalid(.invalidShareName)),
    ("$share//", .invalid(.invalidShareName)),
    ("$share/+/a", .invalid(.invalidShareName)),  // [MQTT-4.8.2-2]
    ("$share/#/a", .invalid(.invalidShareName)),
    ("$share/#", .invalid(.invalidShareName)),
    ("$share/+", .invalid(.invalidShareName)),
    ("$share/gr+oup/a", .invalid(.invalidShareName)),
    ("$share/group#/a", .invalid(.invalidShareName)),
    ("$share/gr\u{0}oup/a", .invalid(.containsNull(.topicFilter))),
    ("$share/group", .invalid(.missingSharedFilter)),  // [MQTT-4.8.2-2]
    ("$share/group/", .invalid(.missingSharedFilter)),
    ("$share/group/sport/tennis#", .invalid(.misplacedMultiLevelWildcard)),
    ("$share/group/sport/#/ranking", .invalid(.misplacedMultiLevelWildcard)),
    ("$share/group/sport+", .invalid(.misplacedSingleLevelWildcard)),
    ("$share/group/a\u{0}", .invalid(.containsNull(.topicFilter))),
]

private func parse(_ filter: String) -> SharedSubscriptionParse {
    do {
        guard let shared = try SharedSubscription(parsing: filter) else { return .ordinary }
        return .shared(shared.shareName, shared.topicFilter)
    } catch {
        return .invalid(error)
    }
}

@Suite struct SharedSubscriptionTests {
    @Test(arguments: sharedSubscriptionCases)
    func parsing(_ filter: String, _ expected: SharedSubscriptionParse) {
        #expect(parse(filter) == expected)
        if case .invalid(let error) = expected {
            #expect(error.reasonCode == .topicFilterInvalid)
        }
    }

    /// The whole filter, prefix included, is at most 65,535 UTF-8 bytes [MQTT-4.7.3-3].
    @Test func lengthBoundary() {
        let longest = String(repeating: "a", count: 65_526)  // 9 + 65,526 = 65,535 bytes
        #expect(parse("$share/g/" + longest) == .shared("g", longest))
        #expect(parse("$share/g/" + longest + "a") == .invalid(.tooLong(.topicFilter)))
    }

    @Test func descriptionIsTheWholeFilter() throws {
        let filter = "$share/consumer1/sport/tennis/+"
        let shared = try #require(try SharedSubscription(parsing: filter))
        #expect(shared.description == filter)
        #expect(shared == SharedSubscription(shareName: "consumer1", topicFilter: "sport/tennis/+"))
    }

    /// Matching uses the inner filter, so the `$` rule applies to it [MQTT-4.7.2-1].
    @Test func matchingUsesTheInnerFilter() throws {
        let everything = try #require(try SharedSubscription(parsing: "$share/g/#"))
        #expect(TopicFilter.matches(everything.topicFilter, topicName: "sport/tennis"))
        #expect(!TopicFilter.matches(everything.topicFilter, topicName: "$SYS/x"))
        let system = try #require(try SharedSubscription(parsing: "$share/g/$SYS/+"))
        #expect(TopicFilter.matches(system.topicFilter, topicName: "$SYS/x"))
    }
}
