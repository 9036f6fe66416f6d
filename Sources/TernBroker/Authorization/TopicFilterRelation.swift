/// How two topic filters relate as sets of topic names: whether some topic matches both, and whether every topic
/// matching one matches the other. Used to judge a subscription against access rules, which are filters too.
/// Both follow ``MQTTCore/TopicFilter/matches(_:topicName:)``, including [MQTT-4.7.2-1]: a filter starting with a
/// wildcard matches no topic starting with `$`.
enum TopicFilterRelation {
    /// The levels of a valid topic filter.
    static func levels(_ filter: String) -> [Substring] {
        filter.split(separator: "/", omittingEmptySubsequences: false)
    }

    /// Whether a first level, as written in a filter, can only match topics starting with `$`.
    private static func isDollarLiteral(_ level: Substring) -> Bool {
        level.utf8.first == UInt8(ascii: "$")
    }

    /// Levels compare byte for byte, without Unicode normalisation [MQTT-4.7.3-4].
    private static func same(_ a: Substring, _ b: Substring) -> Bool {
        a.utf8.elementsEqual(b.utf8)
    }

    private static func isWildcard(_ level: Substring) -> Bool {
        level == "+" || level == "#"
    }

    /// Whether at least one topic name matches both filters (given as levels of valid filters).
    static func overlaps(_ a: [Substring], _ b: [Substring]) -> Bool {
        // A wildcard first level cannot match the '$' topics the other filter is limited to.
        if (isWildcard(a[0]) && isDollarLiteral(b[0])) || (isWildcard(b[0]) && isDollarLiteral(a[0])) {
            return false
        }
        var index = 0
        while true {
            // '#' matches this level and any number after it, none included: whatever the other filter needs,
            // unless that is the one-level topic "" (as in `+` and `/#`), which is not a topic name.
            let aEnds = index < a.count && a[index] == "#"
            let bEnds = index < b.count && b[index] == "#"
            if aEnds || bEnds {
                let onlyTheEmptyTopic = index == 1 && (a[0].isEmpty || b[0].isEmpty)
                    && ((aEnds && b.count == 1) || (bEnds && a.count == 1))
                return !onlyTheEmptyTopic
            }
            if index == a.count || index == b.count { return index == a.count && index == b.count }
            if a[index] != "+" && b[index] != "+" && !same(a[index], b[index]) { return false }
            index += 1
        }
    }

    /// Whether every topic name matching `inner` also matches `outer` (both given as levels of valid filters).
    static func covers(_ outer: [Substring], _ inner: [Substring]) -> Bool {
        // `#` or `+` first does not match '$' topics, which a literal '$' first level stands for.
        if isWildcard(outer[0]) && !isWildcard(inner[0]) && isDollarLiteral(inner[0]) { return false }
        var index = 0
        while true {
            if index < outer.count && outer[index] == "#" { return true }
            if index == outer.count || index == inner.count { return index == outer.count && index == inner.count }
            switch (outer[index], inner[index]) {
            case (_, "#"):
                // Inner matches its parent and every depth below, which a literal or `+` level of outer cannot
                // follow; unless the parent is no topic name (nothing, or the one-level topic ""): then inner
                // needs one more level, and `+/#` there covers it (`+/#` covers `#`, `/+/#` covers `/#`).
                let parentIsATopic = index > 1 || (index == 1 && !inner[0].isEmpty)
                return !parentIsATopic && outer[index] == "+" && outer.count == index + 2 && outer[index + 1] == "#"
            case ("+", _):
                break
            case (_, "+"):
                return false
            case (let o, let i) where same(o, i):
                break
            default:
                return false
            }
            index += 1
        }
    }
}
