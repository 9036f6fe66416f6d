/// A brute-force topic matcher, written straight from section 4.7, that the indexes are checked against.
enum ReferenceTopicMatcher {
    static func levels(_ string: String) -> [Substring] {
        string.split(separator: "/", omittingEmptySubsequences: false)
    }

    /// Whether `filter` matches `topic`, both given as levels.
    static func matches(filter: [Substring], topic: [Substring]) -> Bool {
        // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic starting with `$`.
        if topic[0].hasPrefix("$") && (filter[0] == "+" || filter[0] == "#") { return false }
        for (index, level) in filter.enumerated() {
            if level == "#" { return true }  // this level and below, including none (the parent)
            if index >= topic.count { return false }
            if level != "+" && level != topic[index] { return false }
        }
        return filter.count == topic.count
    }

    static func matches(filter: String, topic: String) -> Bool {
        matches(filter: levels(filter), topic: levels(topic))
    }
}

/// Every filter and topic name over a small alphabet of levels, with their match table precomputed, so that
/// property tests can compare against the reference cheaply.
struct TopicUniverse: Sendable {
    static let names = ["a", "b", "$SYS", ""]

    let topics: [String]
    let filters: [String]
    /// `table[filter][topic]`: whether the filter matches the topic.
    let table: [[Bool]]

    static let shared = TopicUniverse()

    init() {
        func combinations(of alphabet: [String], length: Int) -> [[String]] {
            guard length > 0 else { return [[]] }
            return combinations(of: alphabet, length: length - 1).flatMap { prefix in
                alphabet.map { prefix + [$0] }
            }
        }
        topics = (1...3).flatMap { combinations(of: Self.names, length: $0) }.map { $0.joined(separator: "/") }
            .filter { !$0.isEmpty }  // a topic name is at least one character [MQTT-4.7.3-1]
        let filterLevels = Self.names + ["+"]
        var filters = (1...3).flatMap { combinations(of: filterLevels, length: $0) }.map { $0.joined(separator: "/") }
            .filter { !$0.isEmpty }
        filters += (0...2).flatMap { combinations(of: filterLevels, length: $0) }
            .map { ($0 + ["#"]).joined(separator: "/") }
        self.filters = filters
        let topicLevels = topics.map(ReferenceTopicMatcher.levels)
        table = filters.map { filter in
            let levels = ReferenceTopicMatcher.levels(filter)
            return topicLevels.map { ReferenceTopicMatcher.matches(filter: levels, topic: $0) }
        }
    }

    func filterIndex(_ filter: String) -> Int { filters.firstIndex(of: filter)! }
    func topicIndex(_ topic: String) -> Int { topics.firstIndex(of: topic)! }
}
