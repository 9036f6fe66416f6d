import Testing

@testable import TernBroker

@Suite struct RetainedIndexTests {
    static let topics = [
        "sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
        "sport/tennis/player1/score/wimbledon", "sport/tennis/player2", "/finance", "finance", "/", "//",
        "a//b", "a/", "$SYS", "$SYS/monitor/Clients", "$SYS/broker/uptime", "a/$b", "Accounts",
        "Accounts payable",
    ]

    static func filled() -> RetainedIndex<Int> {
        var index = RetainedIndex<Int>()
        for (value, topic) in topics.enumerated() { index.set(topic, value) }
        return index
    }

    @Test(arguments: [
        "#", "+", "+/+", "/+", "sport/#", "sport/+", "sport/tennis/+", "sport/tennis/player1/#", "+/tennis/#",
        "sport/+/player1", "+/monitor/Clients", "$SYS/#", "$SYS/monitor/+", "$SYS/+", "a/+/b", "a/#", "a/+",
        "+/+/+", "//", "/", "ACCOUNTS", "Accounts", "nothing/#", "+/#", "#/", "sport/tennis/player1",
    ])
    func filterMatchesTheReference(_ filter: String) {
        let index = Self.filled()
        let expected = Set(Self.topics.filter { ReferenceTopicMatcher.matches(filter: filter, topic: $0) })
        let matched = index.matches(filter: filter)
        #expect(Set(matched.map(\.topic)) == expected)
        #expect(matched.count == expected.count, "each topic once")
        for (topic, value) in matched { #expect(Self.topics[value] == topic) }
    }

    @Test func specExamples() {
        let index = Self.filled()
        #expect(Set(index.matches(filter: "sport/tennis/player1/#").map(\.topic)) == [
            "sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis/player1/score/wimbledon",
        ])
        #expect(Set(index.matches(filter: "sport/+").map(\.topic)) == ["sport/", "sport/tennis"])
        #expect(Set(index.matches(filter: "sport/#").map(\.topic)).contains("sport"))
        #expect(Set(index.matches(filter: "+/+").map(\.topic)).isSuperset(of: ["/finance", "/", "a/"]))
        #expect(!Set(index.matches(filter: "+").map(\.topic)).contains("/finance"))
        // [MQTT-4.7.2-1]
        #expect(index.matches(filter: "#").allSatisfy { !$0.topic.hasPrefix("$") })
        #expect(index.matches(filter: "+/monitor/Clients").isEmpty)
        #expect(Set(index.matches(filter: "$SYS/#").map(\.topic)) == ["$SYS", "$SYS/monitor/Clients",
                                                                     "$SYS/broker/uptime"])
        #expect(index.matches(filter: "$SYS/monitor/+").map(\.topic) == ["$SYS/monitor/Clients"])
        #expect(index.matches(filter: "a/+").map(\.topic).sorted() == ["a/", "a/$b"])
    }

    @Test func setReplacesAndNilRemovesAndPrunes() {
        var index = RetainedIndex<String>()
        let previous1 = index.set("a/b/c", "1")
        #expect(previous1 == nil)
        let previous2 = index.set("a/b/c", "2")
        #expect(previous2 == "1")
        #expect(index.count == 1)
        #expect(index.value(for: "a/b/c") == "2")
        #expect(index.value(for: "a/b") == nil)
        #expect(index.value(for: "a/b/c/d") == nil)
        index.set("a", "top")
        #expect(index.trieNodeCount == 4)
        let previous3 = index.set("a/b", nil)
        #expect(previous3 == nil)  // nothing there
        #expect(index.trieNodeCount == 4)
        let previous4 = index.set("a/b/c", nil)
        #expect(previous4 == "2")
        #expect(index.trieNodeCount == 2)  // b and c pruned, a keeps its value
        #expect(index.count == 1)
        index.set("a", nil)
        #expect(index.isEmpty && index.trieNodeCount == 1)
        #expect(index.matches(filter: "#").isEmpty)
    }

    @Test func emptyLevelsAreLevels() {
        var index = RetainedIndex<Int>()
        for (value, topic) in ["a//b", "/a", "a/", "/", "a"].enumerated() { index.set(topic, value) }
        #expect(index.value(for: "a//b") == 0 && index.value(for: "/a") == 1 && index.value(for: "a/") == 2)
        #expect(index.value(for: "/") == 3 && index.value(for: "a") == 4 && index.value(for: "a/b") == nil)
        #expect(Set(index.matches(filter: "a/+/b").map(\.topic)) == ["a//b"])
        #expect(Set(index.matches(filter: "+/a").map(\.topic)) == ["/a"])
        #expect(Set(index.matches(filter: "a/#").map(\.topic)) == ["a//b", "a/", "a"])
        #expect(Set(index.matches(filter: "+/+").map(\.topic)) == ["/a", "a/", "/"])
        #expect(Set(index.matches(filter: "+").map(\.topic)) == ["a"])
    }

    @Test func snapshotIsUnchangedByWritesToACopy() {
        let snapshot = Self.filled()
        var copy = snapshot
        copy.set("sport", 1000)
        copy.set("sport/tennis/player1", nil)
        copy.set("new/topic", 7)
        #expect(snapshot.count == Self.topics.count)
        for (value, topic) in Self.topics.enumerated() { #expect(snapshot.value(for: topic) == value) }
        #expect(snapshot.value(for: "new/topic") == nil)
        #expect(copy.value(for: "sport") == 1000 && copy.value(for: "sport/tennis/player1") == nil)
        #expect(Set(snapshot.matches(filter: "#").map(\.topic)) == Set(Self.topics.filter { !$0.hasPrefix("$") }))
    }

    @Test func deepTopicsAndWideLevels() {
        var index = RetainedIndex<Int>()
        let deep = Array(repeating: "x", count: 20_000).joined(separator: "/")
        index.set(deep, 1)
        for i in 0..<500 { index.set("dev/\(i)/state", i) }
        #expect(index.value(for: deep) == 1)
        #expect(index.matches(filter: Array(repeating: "+", count: 20_000).joined(separator: "/")).count == 1)
        #expect(index.matches(filter: "dev/+/state").count == 500)
        #expect(index.matches(filter: "dev/377/#").map(\.value) == [377])
        let snapshot = index
        index.set(deep, nil)
        for i in 0..<500 where i % 2 == 0 { index.set("dev/\(i)/state", nil) }
        #expect(index.count == 250 && snapshot.count == 501)
        #expect(Set(index.matches(filter: "dev/+/state").map(\.value)) == Set((0..<500).filter { $0 % 2 == 1 }))
    }

    /// Wide levels are walked in address order (`RetainedMatchCursor.visitInMemoryOrder`): every match is still
    /// visited once, in batches, with the index written between batches (the cursor keeps its snapshot).
    @Test(arguments: ["#", "wide/#", "wide/+", "wide/+/deep", "+/+"])
    func cursorOverWideLevelsVisitsEveryMatchOnce(filter: String) {
        var index = RetainedIndex<Int>()
        for i in 0..<3_000 { index.set("wide/\(i)", i) }
        for i in 0..<200 { index.set("wide/\(i)/deep", 10_000 + i) }
        for i in 0..<100 { index.set("other\(i)/x", 20_000 + i) }
        let expected = Dictionary(index.matches(filter: filter).map { ($0.topic, $0.value) },
                                  uniquingKeysWith: { first, _ in first })
        var cursor = RetainedMatchCursor(index, filter: filter)
        var seen: [String: Int] = [:]
        var visits = 0
        var round = 0
        while !cursor.isFinished {
            var taken = 0
            cursor.next { topic, value in
                guard taken < 97 else { return false }
                taken += 1
                visits += 1
                seen[topic] = value
                return true
            }
            // Writes between batches clone what the cursor still holds, never change it.
            round += 1
            for i in stride(from: round, to: 3_000, by: 50) { index.set("wide/\(i)", i % 2 == 0 ? nil : -i) }
            index.set("wide/new\(round)", -1)
        }
        #expect(!expected.isEmpty)
        #expect(seen == expected && visits == expected.count)
    }

    /// The scan for `#` hands the values a few slots ahead to `prefetch` (the broker asks for their memory early):
    /// only values in use, each of them before it is visited, and the visits are those of the plain walk.
    @Test func scanPrefetchesTheValuesAheadInUse() {
        var index = RetainedIndex<Int>()
        for i in 0..<500 { index.set("t/\(i)", i) }
        for i in stride(from: 0, to: 500, by: 7) { index.set("t/\(i)", nil) }  // free slots among those in use
        var cursor = RetainedMatchCursor(index, filter: "#")
        var prefetched: Set<Int> = []
        var visited: [Int] = []
        var prefetchedBeforeVisit = 0
        while !cursor.isFinished {
            var taken = 0
            cursor.next(prefetching: { prefetched.insert(copy $0) }) { _, value in
                guard taken < 31 else { return false }
                taken += 1
                visited.append(value)
                if prefetched.contains(value) { prefetchedBeforeVisit += 1 }
                return true
            }
        }
        let expected = (0..<500).filter { $0 % 7 != 0 }
        #expect(visited.sorted() == expected)
        #expect(prefetched.isSubset(of: Set(expected)))
        // All but the first few (the scan starts there) were prefetched first.
        #expect(prefetchedBeforeVisit >= expected.count - 8)
    }
}
