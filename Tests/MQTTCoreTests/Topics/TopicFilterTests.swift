import MQTTCore
import Testing

/// Valid topic filters: the examples of section 4.7 of MQTT 3.1.1 and 5.0, empty levels, `$` topics, Unicode.
private let validTopicFilters: [String] = [
    "sport/tennis/player1/#",
    "sport/#",
    "#",
    "+",
    "+/tennis/#",
    "sport/+/player1",
    "sport/tennis/+",
    "/+",
    "+/+",
    "+/",
    "/#",
    "+/#",
    "+/+/+",
    "//#",
    "a//b",
    "/",
    "a/",
    "$SYS/#",
    "$SYS/monitor/+",
    "$SYS",
    "$share",  // not a shared subscription, an ordinary filter
    "$share/group/a",  // to TopicFilter, an ordinary filter
    "sport/tennis/player1",
    "日本/+/東京/#",
    "é/ü/😀",
    "a b/+",
]

/// Invalid topic filters with the error expected.
private let invalidTopicFilters: [(String, TopicError)] = [
    ("", .empty(.topicFilter)),  // [MQTT-4.7.3-1]
    ("\u{0}", .containsNull(.topicFilter)),  // [MQTT-4.7.3-2]
    ("a/\u{0}/#", .containsNull(.topicFilter)),
    ("sport/tennis#", .misplacedMultiLevelWildcard),  // the standard's own examples
    ("sport/tennis/#/ranking", .misplacedMultiLevelWildcard),
    ("sport+", .misplacedSingleLevelWildcard),
    ("#/", .misplacedMultiLevelWildcard),
    ("##", .misplacedMultiLevelWildcard),
    ("a#", .misplacedMultiLevelWildcard),
    ("#a", .misplacedMultiLevelWildcard),
    ("a/#b", .misplacedMultiLevelWildcard),
    ("a/b#/c", .misplacedMultiLevelWildcard),
    ("#/#", .misplacedMultiLevelWildcard),
    ("日本#", .misplacedMultiLevelWildcard),
    ("+a", .misplacedSingleLevelWildcard),
    ("a+", .misplacedSingleLevelWildcard),
    ("a/+b/c", .misplacedSingleLevelWildcard),
    ("a/b+/c", .misplacedSingleLevelWildcard),
    ("++", .misplacedSingleLevelWildcard),
    ("+#", .misplacedSingleLevelWildcard),
    ("#+", .misplacedMultiLevelWildcard),
    ("日本+", .misplacedSingleLevelWildcard),
    ("+日本", .misplacedSingleLevelWildcard),
]

@Suite struct TopicFilterTests {
    @Test(arguments: validTopicFilters)
    func valid(_ filter: String) throws {
        try TopicFilter.validate(filter)
    }

    @Test(arguments: invalidTopicFilters)
    func invalid(_ filter: String, _ error: TopicError) {
        #expect(throws: error) { try TopicFilter.validate(filter) }
        #expect(error.reasonCode == .topicFilterInvalid)
    }

    /// At most 65,535 UTF-8 bytes [MQTT-4.7.3-3] (not parameterized: the test log would print the strings).
    @Test func lengthBoundary() throws {
        try TopicFilter.validate(String(repeating: "a", count: 65_535))
        try TopicFilter.validate(String(repeating: "€", count: 21_845))  // exactly 65,535 bytes
        try TopicFilter.validate(String(repeating: "+/", count: 32_767) + "#")  // 65,535 bytes
        #expect(throws: TopicError.tooLong(.topicFilter)) {
            try TopicFilter.validate(String(repeating: "a", count: 65_536))
        }
        #expect(throws: TopicError.tooLong(.topicFilter)) {
            try TopicFilter.validate(String(repeating: "é", count: 32_768))
        }
        #expect(throws: TopicError.tooLong(.topicFilter)) {
            try TopicFilter.validate(String(repeating: "+/", count: 32_768))
        }
    }

    @Test func errorsReportTopicFilterInvalid() {
        for error: TopicError in [.empty(.topicFilter), .tooLong(.topicFilter), .containsNull(.topicFilter),
                                  .misplacedMultiLevelWildcard, .misplacedSingleLevelWildcard, .invalidShareName,
                                  .missingSharedFilter]
        {
            #expect(error.reasonCode == .topicFilterInvalid)
            #expect(error.reasonCode.rawValue == 0x8F)
        }
    }

    @Test(arguments: [
        ("#", true), ("+", true), ("sport/+/player1", true), ("sport/#", true), ("/+", true),
        ("sport/tennis", false), ("$SYS", false), ("", false), ("日本/東京", false), ("a//b", false),
    ])
    func containsWildcards(_ filter: String, _ expected: Bool) {
        #expect(TopicFilter.containsWildcards(filter) == expected)
    }

    /// Every valid topic name without wildcards is also a valid topic filter, matching exactly itself.
    @Test(arguments: ["a", "/", "a//b", "$SYS/x", "日本/東京", "sport/tennis/player1"])
    func nameIsFilterMatchingItself(_ name: String) throws {
        try TopicName.validate(name)
        try TopicFilter.validate(name)
        #expect(!TopicFilter.containsWildcards(name))
        #expect(TopicFilter.matches(name, topicName: name))
    }
}
