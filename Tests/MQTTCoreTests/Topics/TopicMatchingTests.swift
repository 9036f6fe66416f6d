import MQTTCore
import PropertyBased
import Testing

/// (filter, topic name, whether the filter matches the name): the examples of section 4.7 of MQTT 3.1.1 and 5.0,
/// then edge cases of empty levels, prefixes, `$` topics and multi-byte characters.
private let matchingCases: [(String, String, Bool)] = [
    // 4.7.1.2 Multi-level wildcard.
    ("sport/tennis/player1/#", "sport/tennis/player1", true),
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
    ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
    ("sport/tennis/player1/#", "sport/tennis/player2", false),
    ("sport/tennis/player1/#", "sport/tennis", false),
    ("sport/#", "sport", true),  // '#' includes the parent level
    ("sport/#", "sport/", true),
    ("sport/#", "sport/tennis/player1", true),
    ("sport/#", "sports", false),
    ("sport/#", "spor", false),
    ("sport/#", "/sport", false),
    ("#", "sport", true),
    ("#", "sport/tennis/player1", true),
    ("#", "/", true),
    ("#", "/finance", true),
    ("#", "a//b", true),
    // 4.7.1.3 Single-level wildcard.
    ("sport/tennis/+", "sport/tennis/player1", true),
    ("sport/tennis/+", "sport/tennis/player2", true),
    ("sport/tennis/+", "sport/tennis/player1/ranking", false),
    ("sport/tennis/+", "sport/tennis", false),
    ("sport/tennis/+", "sport/tennis/", true),  // '+' matches an empty level
    ("sport/+", "sport", false),
    ("sport/+", "sport/", true),
    ("+", "sport", true),
    ("+", "/finance", false),
    ("+/+", "/finance", true),
    ("/+", "/finance", true),
    ("/+", "finance", false),
    ("+", "/", false),
    ("+/+", "/", true),
    ("+", "a/", false),
    ("+/tennis/#", "sport/tennis/player1/ranking", true),
    ("+/tennis/#", "sport/tennis", true),
    ("+/tennis/#", "sport/tennis/", true),
    ("+/tennis/#", "sport/golf", false),
    ("+/tennis/#", "tennis", false),
    ("sport/+/player1", "sport/tennis/player1", true),
    ("sport/+/player1", "sport/golf/player1", true),
    ("sport/+/player1", "sport//player1", true),
    ("sport/+/player1", "sport/tennis/player2", false),
    ("sport/+/player1", "sport/player1", false),
    ("sport/+/player1", "sport/tennis/golf/player1", false),
    ("+/+/+", "a/b/c", true),
    ("+/+/+", "a/b", false),
    ("+/+/+", "a/b/c/d", false),
    ("+/+/+", "//", true),
    ("+/#", "a", true),
    ("+/#", "a/b/c", true),
    ("+/+/#", "a", false),
    ("+/+/#", "a/", true),
    ("a/+/#", "a", false),
    ("a/+/#", "a/", true),
    ("/#", "/", true),
    ("/#", "/a/b", true),
    ("/#", "a", false),
    ("//#", "/", true),
    ("//#", "//", true),
    // 4.7.2 Topics beginning with $ [MQTT-4.7.2-1].
    ("#", "$SYS/monitor/Clients", false),
    ("#", "$SYS", false),
    ("#", "$", false),
    ("+/monitor/Clients", "$SYS/monitor/Clients", false),
    ("+", "$SYS", false),
    ("+/#", "$SYS/x", false),
    ("$SYS/#", "$SYS/monitor/Clients", true),
    ("$SYS/#", "$SYS/x", true),
    ("$SYS/#", "$SYS", true),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
    ("$SYS/+", "$SYS/", true),
    ("$SYS", "$SYS", true),
    ("$", "$", true),
    ("$SYS/#", "$SYSTEM/x", false),
    ("$+/x", "$a/x", false),  // invalid filter; never crashes
    ("a/#", "a/$SYS", true),  // the rule is about the first character only
    ("a/+", "a/$SYS", true),
    ("+/$SYS", "a/$SYS", true),
    ("/#", "/$SYS", true),
    ("+/#", "/$SYS", true),
    // Literal levels: case, prefixes, empty levels [MQTT-4.7.3-4: no normalisation].
    ("ACCOUNTS", "ACCOUNTS", true),
    ("ACCOUNTS", "Accounts", false),
    ("/finance", "finance", false),
    ("finance", "/finance", false),
    ("a", "ab", false),
    ("ab", "a", false),
    ("a", "a/", false),
    ("a/", "a", false),
    ("a/", "a/", true),
    ("a/b", "a", false),
    ("a", "a/b", false),
    ("a//b", "a//b", true),
    ("a//b", "a/b", false),
    ("a/b", "a//b", false),
    ("/", "/", true),
    ("/", "//", false),
    ("//", "/", false),
    ("a b", "a b", true),
    // Multi-byte UTF-8 levels.
    ("日本/+", "日本/東京", true),
    ("+/東京", "日本/東京", true),
    ("日本/#", "日本", true),
    ("日本", "日本語", false),
    ("日本語", "日本", false),
    ("日本/+/渋谷", "日本/東京/渋谷", true),
    ("日本/+/渋谷", "日本/東京/新宿", false),
    ("é", "é", true),
    ("\u{E9}", "e\u{301}", false),  // canonically equivalent, but different bytes
    ("e\u{301}", "\u{E9}", false),
    ("😀/+", "😀/😃", true),
    ("😀", "😃", false),
]

@Suite struct TopicMatchingTests {
    @Test(arguments: matchingCases)
    func matches(_ filter: String, _ topicName: String, _ expected: Bool) {
        #expect(TopicFilter.matches(filter, topicName: topicName) == expected)
        #expect(referenceMatches(filter, topicName) == expected, "the reference matcher disagrees")
    }

    @Test func longestTopics() {
        let name = String(repeating: "a", count: 65_535)
        #expect(TopicFilter.matches(name, topicName: name))
        #expect(TopicFilter.matches("#", topicName: name))
        #expect(TopicFilter.matches("+", topicName: name))
        let slashes = String(repeating: "/", count: 32_767)  // 32,768 empty levels
        #expect(TopicFilter.matches("#", topicName: slashes))
        #expect(TopicFilter.matches(String(repeating: "+/", count: 32_767) + "+", topicName: slashes))
        #expect(TopicFilter.matches(String(repeating: "+/", count: 32_767) + "#", topicName: slashes))
        #expect(TopicFilter.matches(slashes + "/#", topicName: slashes))
        #expect(!TopicFilter.matches(String(repeating: "+/", count: 32_766) + "+", topicName: slashes))
        #expect(!TopicFilter.matches(String(repeating: "+/", count: 32_768) + "+", topicName: slashes))
    }

    /// Random filters and names built from a small alphabet of levels agree with the brute-force reference.
    @Test func randomPairsAgreeWithReference() async {
        await propertyCheck(count: 4000, input: randomPair) { pair in
            // (Not `try`: PropertyBased 2.0.1 swallows errors thrown by the body.)
            #expect(throws: Never.self) { try TopicFilter.validate(pair.filter) }
            #expect(throws: Never.self) { try TopicName.validate(pair.name) }
            #expect(TopicFilter.matches(pair.filter, topicName: pair.name) == referenceMatches(pair.filter, pair.name))
        }
    }

    /// Filters derived from the name (some levels replaced by `+`, cut off with `#`) match far more often than
    /// random ones; they too agree with the reference.
    @Test func derivedPairsAgreeWithReference() async {
        await propertyCheck(count: 4000, input: derivedPair) { pair in
            // (Not `try`: PropertyBased 2.0.1 swallows errors thrown by the body.)
            #expect(throws: Never.self) { try TopicFilter.validate(pair.filter) }
            #expect(throws: Never.self) { try TopicName.validate(pair.name) }
            #expect(TopicFilter.matches(pair.filter, topicName: pair.name) == referenceMatches(pair.filter, pair.name))
        }
    }
}

// MARK: - Reference matcher and generators

/// Brute-force reference: split both into levels and match recursively, with the `$` rule [MQTT-4.7.2-1].
/// Levels compare by UTF-8 bytes: `String`'s `==` would equate canonically equivalent levels [MQTT-4.7.3-4].
private func referenceMatches(_ filter: String, _ topicName: String) -> Bool {
    if topicName.hasPrefix("$") && (filter.hasPrefix("#") || filter.hasPrefix("+")) { return false }
    return referenceMatches(filter.split(separator: "/", omittingEmptySubsequences: false)[...],
                            topicName.split(separator: "/", omittingEmptySubsequences: false)[...])
}

private func referenceMatches(_ filter: ArraySlice<Substring>, _ topic: ArraySlice<Substring>) -> Bool {
    guard let level = filter.first else { return topic.isEmpty }
    if level == "#" { return true }
    guard let topicLevel = topic.first else { return false }
    guard level == "+" || level.utf8.elementsEqual(topicLevel.utf8) else { return false }
    return referenceMatches(filter.dropFirst(), topic.dropFirst())
}

/// A filter and a topic name, for property checks.
private struct TopicPair: Sendable, CustomStringConvertible {
    var filter: String
    var name: String
    var description: String { "filter \"\(filter)\", name \"\(name)\"" }
}

/// Levels of topic names: empty, `$` levels, a prefix pair (`a`, `ab`), multi-byte and canonically equivalent ones.
/// (No level starts with a combining mark, which would join the '/' before it into one `Character` and upset
/// the reference's `split`.)
private let nameLevels = ["a", "b", "", "ab", "$SYS", "$", "\u{E9}", "e\u{301}", "日本"]
/// Levels of topic filters: the name levels and the single-level wildcard (`#` is added at the end only).
private let filterLevels = nameLevels + ["+", "+", "+"]

/// The levels joined with '/'; a single empty level (an empty string, invalid) becomes two ("/").
private func nonEmpty(_ levels: [String]) -> String {
    let joined = levels.joined(separator: "/")
    return joined.isEmpty ? "/" : joined
}

/// 1 to 5 levels drawn from `alphabet`, as indices so that shrinking moves towards the first level.
private func levels(_ alphabet: [String]) -> Generator<[String], some SendableSequenceType> {
    Gen.int(in: 0...(alphabet.count - 1)).array(of: 1...5).map { indices in indices.map { alphabet[$0] } }
}

/// A random name and a random filter, ending with `#` in two cases out of three.
private let randomPair: Generator<TopicPair, some SendableSequenceType> =
    zip(levels(nameLevels), levels(filterLevels), Gen.int(in: 0...2)).map { nameParts, filterParts, hashMode in
        var filterParts = filterParts
        switch hashMode {
        case 1: filterParts[filterParts.count - 1] = "#"  // "a/#", or "#" alone
        case 2: filterParts.append("#")
        default: break
        }
        return TopicPair(filter: nonEmpty(filterParts), name: nonEmpty(nameParts))
    }

/// A random name and a filter made from it.
private let derivedPair: Generator<TopicPair, some SendableSequenceType> =
    zip(levels(nameLevels), Gen.int(in: 0...4).array(of: 5), Gen.int(in: 0...7)).map { nameParts, edits, cut in
        // Each level kept (0, 1), replaced by '+' (2, 3) or by another literal (4); then, if `cut` is within the
        // levels (or one past them), the levels from `cut` on are replaced by '#'.
        var filterParts = nameParts.enumerated().map { index, level in
            switch edits[index] {
            case 2, 3: "+"
            case 4: level == "a" ? "b" : "a"
            default: level
            }
        }
        if cut <= filterParts.count {
            filterParts = Array(filterParts.prefix(cut)) + ["#"]
        }
        return TopicPair(filter: nonEmpty(filterParts), name: nonEmpty(nameParts))
    }
