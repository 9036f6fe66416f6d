import MQTTCore
import Testing

@testable import TernBroker

@Suite struct SubscriptionIndexTests {
    typealias Index = SubscriptionIndex<String>

    /// The examples of section 4.7 (and a few neighbours): filter, topic name, whether they match.
    static let specExamples: [(filter: String, topic: String, matches: Bool)] = [
        // 4.7.1.2 Multi-level wildcard
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
        ("sport/tennis/player1/#", "sport/tennis/player2", false),
        ("sport/tennis/player1/#", "sport/tennis", false),
        ("sport/#", "sport", true),
        ("#", "sport", true),
        ("#", "sport/tennis/player1", true),
        ("#", "/", true),
        // 4.7.1.3 Single-level wildcard
        ("sport/tennis/+", "sport/tennis/player1", true),
        ("sport/tennis/+", "sport/tennis/player2", true),
        ("sport/tennis/+", "sport/tennis/player1/ranking", false),
        ("sport/+", "sport", false),
        ("sport/+", "sport/", true),
        ("+", "sport", true),
        ("+/tennis/#", "sport/tennis/player1", true),
        ("+/tennis/#", "sport/tennis", true),
        ("sport/+/player1", "sport/tennis/player1", true),
        ("sport/+/player1", "sport/tennis/player2", false),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        // 4.7.2 Topics beginning with $ [MQTT-4.7.2-1]
        ("#", "$SYS/monitor/Clients", false),
        ("#", "$SYS", false),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false),
        ("+", "$SYS", false),
        ("+/#", "$SYS/monitor", false),
        ("$SYS/#", "$SYS/monitor/Clients", true),
        ("$SYS/#", "$SYS", true),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
        ("$SYS/+/Clients", "$SYS/monitor/Clients", true),
        ("a/+", "a/$b", true),
        ("a/#", "a/$b", true),
        // 4.7.3 Topic semantic and usage: case-sensitive, spaces allowed, a leading "/" is a level
        ("ACCOUNTS", "Accounts", false),
        ("Accounts", "Accounts", true),
        ("Accounts payable", "Accounts payable", true),
        ("finance", "/finance", false),
        ("/finance", "/finance", true),
        ("/", "/", true),
        ("+/+", "/", true),
        ("+", "/", false),
    ]

    @Test(arguments: specExamples.indices)
    func specExample(_ row: Int) {
        let (filter, topic, expected) = Self.specExamples[row]
        #expect(ReferenceTopicMatcher.matches(filter: filter, topic: topic) == expected, "reference matcher")
        var index = Index()
        index.subscribe(filter, subscriber: "c", options: SubscriptionOptions(qos: .atLeastOnce))
        let matched = index.matches(topicName: topic)
        #expect(matched.count == (expected ? 1 : 0), "\(filter) vs \(topic)")
        if expected { #expect(matched.first?.filter == filter) }
    }

    @Test func allSpecExamplesInOneIndex() {
        var index = Index()
        for (row, example) in Self.specExamples.enumerated() {
            index.subscribe(example.filter, subscriber: "c\(row)", options: SubscriptionOptions())
        }
        for (filter, topic, expected) in Self.specExamples {
            let filters = Set(index.matches(topicName: topic).map(\.filter))
            #expect(filters.contains(filter) == expected, "\(filter) vs \(topic)")
        }
    }

    @Test func emptyLevels() {
        let filters = ["a//b", "a/+/b", "+/+/+", "a/#", "#", "a/b", "a/+", "+/a", "/a", "/+", "/#", "+/+", "+", "a",
                       "a/", "+/", "a/+/#", "//", "/+/", "+//"]
        var index = Index()
        for filter in filters { index.subscribe(filter, subscriber: "c", options: SubscriptionOptions()) }
        for topic in ["a//b", "/a", "a/", "/", "//", "a", "a/b", "a//", "//b"] {
            let expected = Set(filters.filter { ReferenceTopicMatcher.matches(filter: $0, topic: topic) })
            #expect(Set(index.matches(topicName: topic).map(\.filter)) == expected, "\(topic)")
        }
        #expect(Set(index.matches(topicName: "a//b").map(\.filter)) == ["a//b", "a/+/b", "+/+/+", "a/#", "#",
                                                                          "a/+/#"])
        #expect(Set(index.matches(topicName: "/a").map(\.filter)) == ["+/a", "/a", "/+", "/#", "+/+", "#"])
        #expect(Set(index.matches(topicName: "a/").map(\.filter)) == ["a/#", "#", "a/+", "+/+", "a/", "+/",
                                                                        "a/+/#"])
    }

    @Test func bytesAreComparedWithoutNormalization() {
        var index = Index()
        let composed = "caf\u{E9}"  // é as one scalar
        let decomposed = "cafe\u{301}"  // e + combining acute: equal as Swift Strings, different bytes
        index.subscribe("menu/\(composed)", subscriber: "c", options: SubscriptionOptions())
        #expect(index.matches(topicName: "menu/\(composed)").count == 1)
        #expect(index.matches(topicName: "menu/\(decomposed)").isEmpty)  // [MQTT-4.7.3-4]
        let long = String(repeating: "level-longer-than-fifteen-bytes-", count: 4)
        index.subscribe("\(long)/+/\(long)", subscriber: "c", options: SubscriptionOptions())
        #expect(index.matches(topicName: "\(long)/x/\(long)").count == 1)
        #expect(index.matches(topicName: "\(long)/x/\(long)x").isEmpty)
    }

    @Test func resubscribeReplaces() throws {
        var index = Index()
        let isNew1 = index.subscribe("a/+", subscriber: "c", options: SubscriptionOptions(qos: .atMostOnce),
                                identifier: 1)
        #expect(isNew1)
        let isNew2 = index.subscribe("a/+", subscriber: "c", options: SubscriptionOptions(qos: .exactlyOnce,
                                                                                      noLocal: true))
        #expect(!isNew2)
        #expect(index.count == 1)
        let matched = try #require(index.matches(topicName: "a/b").first)
        #expect(index.matches(topicName: "a/b").count == 1)
        #expect(matched.options == SubscriptionOptions(qos: .exactlyOnce, noLocal: true))
        #expect(matched.identifier == nil)  // the new SUBSCRIBE carried none
        #expect(index.subscriptions(of: "c") == [matched])
        #expect(index.subscription("a/+", subscriber: "c") == matched)
        // Another subscriber to the same filter is a separate subscription.
        let isNew3 = index.subscribe("a/+", subscriber: "d", options: SubscriptionOptions())
        #expect(isNew3)
        #expect(index.count == 2)
    }

    @Test func unsubscribeComparesFiltersExactlyAndPrunes() {
        var index = Index()
        index.subscribe("a/b/c", subscriber: "c", options: SubscriptionOptions())
        index.subscribe("a/+", subscriber: "c", options: SubscriptionOptions())
        index.subscribe("a/b", subscriber: "d", options: SubscriptionOptions())
        let nodesBefore = index.trieNodeCount  // root, a, b, c, +
        #expect(nodesBefore == 5)
        let existed4 = index.unsubscribe("a/b", subscriber: "c")
        #expect(!existed4)  // "a/+" is not removed by "a/b" [MQTT-3.10.4-1]
        let existed5 = index.unsubscribe("a/b/c", subscriber: "d")
        #expect(!existed5)
        let existed6 = index.unsubscribe("a/b/c", shareGroup: "g", subscriber: "c")
        #expect(!existed6)
        let existed7 = index.unsubscribe("x/y", subscriber: "c")
        #expect(!existed7)
        #expect(index.count == 3)
        let existed8 = index.unsubscribe("a/b/c", subscriber: "c")
        #expect(existed8)
        let existed9 = index.unsubscribe("a/b/c", subscriber: "c")
        #expect(!existed9)
        #expect(index.trieNodeCount == 4)  // "c" pruned, "b" kept for d's "a/b"
        #expect(index.matches(topicName: "a/b/c").isEmpty)
        let existed10 = index.unsubscribe("a/b", subscriber: "d")
        #expect(existed10)
        #expect(index.trieNodeCount == 3)
        let existed11 = index.unsubscribe("a/+", subscriber: "c")
        #expect(existed11)
        #expect(index.trieNodeCount == 1)
        #expect(index.isEmpty && index.subscriberCount == 0)
        #expect(index.subscriptions(of: "c").isEmpty)
    }

    @Test func removeAllForSubscriber() {
        var index = Index()
        for filter in ["a", "a/+", "a/#", "#", "+/b", "x/y/z"] {
            index.subscribe(filter, subscriber: "gone", options: SubscriptionOptions())
        }
        index.subscribe("a/+", shareGroup: "g", subscriber: "gone", options: SubscriptionOptions())
        index.subscribe("a/+", shareGroup: "g", subscriber: "stays", options: SubscriptionOptions())
        index.subscribe("a/+", subscriber: "stays", options: SubscriptionOptions())
        #expect(index.count == 9)
        #expect(index.subscriberCount == 2)
        let removed12 = index.removeAll(for: "gone")
        #expect(removed12 == 7)
        let removed13 = index.removeAll(for: "gone")
        #expect(removed13 == 0)
        #expect(index.count == 2)
        #expect(index.subscriptions(of: "gone").isEmpty)
        #expect(Set(index.matches(topicName: "a/b")) == [
            .init(subscriber: "stays", filter: "a/+", shareGroup: "g"),
            .init(subscriber: "stays", filter: "a/+"),
        ])
        #expect(index.trieNodeCount == 3)  // root, a, +
        index.removeAll(for: "stays")
        #expect(index.trieNodeCount == 1)
        #expect(index.isEmpty)
    }

    @Test func sharedSubscriptionsAreDistinctFromPlainOnes() {
        var index = Index()
        let qos0 = SubscriptionOptions(qos: .atMostOnce)
        let qos1 = SubscriptionOptions(qos: .atLeastOnce)
        let qos2 = SubscriptionOptions(qos: .exactlyOnce)
        let isNew14 = index.subscribe("a/+", subscriber: "c", options: qos0)
        #expect(isNew14)
        let isNew15 = index.subscribe("a/+", shareGroup: "g1", subscriber: "c", options: qos1)
        #expect(isNew15)
        let isNew16 = index.subscribe("a/+", shareGroup: "g2", subscriber: "c", options: qos2)
        #expect(isNew16)
        let isNew17 = index.subscribe("a/+", shareGroup: "g1", subscriber: "d", options: qos0)
        #expect(isNew17)
        let isNew18 = index.subscribe("a/#", shareGroup: "g1", subscriber: "d", options: qos0)
        #expect(isNew18)
        let isNew19 = index.subscribe("a/+", shareGroup: "g1", subscriber: "c", options: qos2)
        #expect(!isNew19)
        #expect(index.count == 5)
        #expect(index.subscriptions(of: "c").map { $0.shareGroup ?? "-" } == ["-", "g1", "g2"])

        var plain: [Index.Entry] = []
        var groups: [String: [String]] = [:]
        index.forEachMatch(topicName: "a/b") { match in
            switch match {
            case .subscription(let entry):
                plain.append(entry)
            case .shared(let group, let filter, let members):
                #expect(groups["\(group) \(filter)"] == nil, "each group and filter reported once")
                #expect(members.allSatisfy { $0.shareGroup == group && $0.filter == filter })
                groups["\(group) \(filter)"] = members.map(\.subscriber).sorted()
            }
        }
        #expect(plain == [.init(subscriber: "c", filter: "a/+", options: qos0)])
        #expect(groups == ["g1 a/+": ["c", "d"], "g2 a/+": ["c"], "g1 a/#": ["d"]])

        let existed20 = index.unsubscribe("a/+", shareGroup: "g1", subscriber: "c")
        #expect(existed20)
        #expect(index.subscription("a/+", shareGroup: "g1", subscriber: "c") == nil)
        #expect(index.subscription("a/+", subscriber: "c") != nil)
        #expect(index.subscription("a/+", shareGroup: "g2", subscriber: "c") != nil)
        let existed21 = index.unsubscribe("a/+", shareGroup: "g1", subscriber: "d")
        #expect(existed21)
        #expect(index.matches(topicName: "a/b").count == 3)  // plain c, g2 c, g1 d on a/#
    }

    @Test func snapshotIsUnchangedByWritesToACopy() {
        var original = Index()
        for (i, filter) in ["a/b", "a/+", "#", "x/y/z", "$SYS/#"].enumerated() {
            original.subscribe(filter, subscriber: "c\(i % 2)", options: SubscriptionOptions(qos: .atLeastOnce))
        }
        original.subscribe("a/b", shareGroup: "g", subscriber: "c0", options: SubscriptionOptions())
        let snapshot = original
        let before = ["a/b", "x/y/z", "$SYS/x", "q"].map { Set(snapshot.matches(topicName: $0)) }
        let rootBefore = original.rootIdentity

        var copy = original
        #expect(copy.rootIdentity == rootBefore)
        copy.subscribe("a/b", subscriber: "c9", options: SubscriptionOptions())
        copy.subscribe("a/b", subscriber: "c0", options: SubscriptionOptions(qos: .exactlyOnce))  // replace
        copy.unsubscribe("x/y/z", subscriber: "c1")
        copy.unsubscribe("a/b", shareGroup: "g", subscriber: "c0")
        copy.removeAll(for: "c0")
        #expect(copy.rootIdentity != rootBefore)
        let copyRoot = copy.rootIdentity
        copy.subscribe("n/e/w", subscriber: "c5", options: SubscriptionOptions())
        #expect(copy.rootIdentity == copyRoot, "a uniquely held index is mutated in place")

        #expect(snapshot.count == 6 && original.count == 6)
        #expect(snapshot.rootIdentity == rootBefore)
        #expect(["a/b", "x/y/z", "$SYS/x", "q"].map { Set(snapshot.matches(topicName: $0)) } == before)
        #expect(snapshot.subscriptions(of: "c0").count == 4)
        #expect(copy.subscriptions(of: "c0").isEmpty)
        #expect(copy.count == 3)  // c1 "a/+", c9 "a/b", c5 "n/e/w"
    }

    @Test func wideLevelsAndCrowdedFilters() {
        var index = Index()
        // 300 children under "dev": past the linear limit, through the hash table.
        for i in 0..<300 {
            index.subscribe("dev/\(i)/state", subscriber: "c\(i)", options: SubscriptionOptions())
        }
        // 100 subscribers of one filter: past the per-node position index threshold.
        for i in 0..<100 {
            index.subscribe("dev/+/state", subscriber: "w\(i)", options: SubscriptionOptions())
        }
        #expect(index.count == 400)
        for i in stride(from: 0, to: 300, by: 7) {
            #expect(Set(index.matches(topicName: "dev/\(i)/state").map(\.subscriber)).count == 101)
        }
        for i in 0..<300 where i % 2 == 1 {
            let removed = index.unsubscribe("dev/\(i)/state", subscriber: "c\(i)")
            #expect(removed)
        }
        for i in 0..<100 where i % 3 != 0 {
            let removed = index.unsubscribe("dev/+/state", subscriber: "w\(i)")
            #expect(removed)
        }
        let isNew24 = index.subscribe("dev/+/state", subscriber: "w0", options: SubscriptionOptions(qos: .exactlyOnce))
        #expect(!isNew24)
        for i in 0..<300 {
            let subscribers = Set(index.matches(topicName: "dev/\(i)/state").map(\.subscriber))
            let expected = Set((0..<100).filter { $0 % 3 == 0 }.map { "w\($0)" } + (i % 2 == 0 ? ["c\(i)"] : []))
            #expect(subscribers == expected)
        }
        #expect(index.subscription("dev/+/state", subscriber: "w0")?.options.qos == .exactlyOnce)
        for i in 0..<300 { index.removeAll(for: "c\(i)") }
        for i in 0..<100 { index.removeAll(for: "w\(i)") }
        #expect(index.isEmpty && index.trieNodeCount == 1)
    }

    @Test func largeShareGroups() throws {
        var index = Index()
        for i in 0..<40 {
            index.subscribe("jobs/+", shareGroup: "workers", subscriber: "w\(i)", options: SubscriptionOptions())
        }
        var reported: [Index.ShareGroupMembers] = []
        index.forEachMatch(topicName: "jobs/1") { match in
            if case .shared(_, _, let members) = match { reported.append(members) }
        }
        let members = try #require(reported.first)
        #expect(reported.count == 1 && members.count == 40)
        #expect(Set(members.map(\.subscriber)) == Set((0..<40).map { "w\($0)" }))
        #expect(members.indices.map { members[$0] } == Array(members))
        for i in 0..<36 { index.unsubscribe("jobs/+", shareGroup: "workers", subscriber: "w\(i)") }
        #expect(Set(index.matches(topicName: "jobs/1").map(\.subscriber)) == ["w36", "w37", "w38", "w39"])
    }

    @Test func deepFiltersNeitherOverflowMatchingNorTeardown() {
        let depth = 20_000
        var index = Index()
        let filter = Array(repeating: "+", count: depth).joined(separator: "/")
        let topic = Array(repeating: "x", count: depth).joined(separator: "/")
        index.subscribe(filter, subscriber: "deep", options: SubscriptionOptions())
        index.subscribe(topic, subscriber: "deep", options: SubscriptionOptions())
        #expect(index.matches(topicName: topic).count == 2)
        #expect(index.matches(topicName: topic + "/x").isEmpty)
        let snapshot = index
        index.removeAll(for: "deep")
        #expect(index.isEmpty && snapshot.count == 2)
    }
}
