import MQTTCore
import Testing

/// Valid topic names: section 4.7 of MQTT 3.1.1 and 5.0 and its examples, empty levels, `$` topics, Unicode.
private let validTopicNames: [String] = [
    "sport/tennis/player1",
    "sport/tennis/player1/ranking",
    "sport/tennis/player1/score/wimbledon",
    "sport",
    "/finance",
    "finance",
    "/",  // two empty levels
    "//",
    "a//b",
    "/a",
    "a/",
    " ",  // spaces are allowed
    "sport tennis/player 1",
    "ACCOUNTS",
    "Accounts",
    "$SYS/monitor/Clients",
    "$SYS",
    "$",
    "a/$b",
    "日本/東京/渋谷",  // multi-byte levels
    "é/ü/😀",
    "\u{1}\u{7F}",  // control characters are only discouraged (SHOULD NOT)
    "a.b-c_d:e",
]

/// Invalid topic names with the error expected.
private let invalidTopicNames: [(String, TopicError)] = [
    ("", .empty(.topicName)),  // [MQTT-4.7.3-1]
    ("\u{0}", .containsNull(.topicName)),  // [MQTT-4.7.3-2]
    ("a\u{0}b", .containsNull(.topicName)),
    ("a/b\u{0}", .containsNull(.topicName)),
    ("#", .wildcardInTopicName),  // [MQTT-3.3.2-2]
    ("+", .wildcardInTopicName),
    ("sport/#", .wildcardInTopicName),
    ("sport/+/player1", .wildcardInTopicName),
    ("sport+", .wildcardInTopicName),
    ("sport/tennis#", .wildcardInTopicName),
    ("$SYS/#", .wildcardInTopicName),
    ("日本/+", .wildcardInTopicName),
    ("a+\u{0}", .wildcardInTopicName),  // the first problem found is reported
    ("\u{0}+", .containsNull(.topicName)),
]

@Suite struct TopicNameTests {
    @Test(arguments: validTopicNames)
    func valid(_ name: String) throws {
        try TopicName.validate(name)
    }

    @Test(arguments: invalidTopicNames)
    func invalid(_ name: String, _ error: TopicError) {
        #expect(throws: error) { try TopicName.validate(name) }
        #expect(error.reasonCode == .topicNameInvalid)
    }

    /// At most 65,535 UTF-8 bytes [MQTT-4.7.3-3] (not parameterized: the test log would print the strings).
    @Test func lengthBoundary() throws {
        try TopicName.validate(String(repeating: "a", count: 65_535))
        try TopicName.validate(String(repeating: "€", count: 21_845))  // 3 bytes each: exactly 65,535 bytes
        try TopicName.validate(String(repeating: "/", count: 65_535))
        try TopicName.validate(String(repeating: "😀", count: 16_383) + "abc")  // 4 bytes each, plus 3
        #expect(throws: TopicError.tooLong(.topicName)) {
            try TopicName.validate(String(repeating: "a", count: 65_536))
        }
        #expect(throws: TopicError.tooLong(.topicName)) {  // 32,768 characters but 65,536 bytes
            try TopicName.validate(String(repeating: "é", count: 32_768))
        }
        #expect(throws: TopicError.tooLong(.topicName)) {
            try TopicName.validate(String(repeating: "€", count: 21_845) + "a")
        }
        #expect(throws: TopicError.tooLong(.topicName)) {  // too long is reported before the wildcard
            try TopicName.validate(String(repeating: "#", count: 65_536))
        }
    }

    @Test func errorsReportTopicNameInvalid() {
        for error: TopicError in [.empty(.topicName), .tooLong(.topicName), .containsNull(.topicName),
                                  .wildcardInTopicName]
        {
            #expect(error.reasonCode == .topicNameInvalid)
            #expect(error.reasonCode.rawValue == 0x90)
        }
    }

    @Test func errorIsTyped() {
        do {
            try TopicName.validate("a/#")
            Issue.record("expected an error")
        } catch {
            // `error` is a TopicError (typed throws), not `any Error`.
            #expect(error == .wildcardInTopicName)
            #expect(!error.description.isEmpty)
        }
    }
}
