import MQTTCore
import PropertyBased
import Testing

@testable import TernBroker

@Suite struct TopicMatchCacheTests {
    /// The subscriptions the cache reports for a topic, as `SubscriptionIndex.matches` lists them.
    static func matches(_ cache: inout TopicMatchCache<String>, _ topic: String, in index: SubscriptionIndex<String>)
        -> [SubscriptionIndex<String>.Entry]
    {
        var result: [SubscriptionIndex<String>.Entry] = []
        for node in cache.matchingNodes(topicName: topic, in: index) {
            SubscriptionIndex<String>.emit(node.takeUnretainedValue()) { match in
                switch match {
                case .subscription(let entry): result.append(entry)
                case .shared(_, _, let members): result.append(contentsOf: members)
                }
            }
        }
        return result.sorted { "\($0)" < "\($1)" }
    }

    /// Writes and lookups interleaved at random, on caches of 1, 4 and 1,024 slots (few slots: topics evict each
    /// other): every lookup gives what the index gives.
    @Test func lookupsBetweenWritesMatchTheIndex() async {
        let universe = TopicUniverse.shared
        let step = zip(Gen.bool, SubscriptionOperation.generator, Gen.int(in: 0..<universe.topics.count))
        await propertyCheck(count: 100, input: step.array(of: 1...120), Gen.element(of: [1, 4, 1024])) {
            steps, slots in
            var index = SubscriptionIndex<String>()
            var cache = TopicMatchCache<String>(slotCount: slots!)
            for (isWrite, operation, topicIndex) in steps {
                if isWrite {
                    _ = index.apply(operation)
                    continue
                }
                let topic = universe.topics[topicIndex]
                let expected = index.matches(topicName: topic).sorted { "\($0)" < "\($1)" }
                // Three times: a topic that missed in a taken slot takes it at its second miss, and is served
                // from it at the third lookup.
                for _ in 0..<3 {
                    let actual = Self.matches(&cache, topic, in: index)
                    #expect(actual == expected, "topic \(topic), \(slots!) slots, after \(steps)")
                }
            }
        }
    }

    @Test func aRepeatedTopicIsHeldUntilTheIndexChanges() {
        var index = SubscriptionIndex<String>()
        var cache = TopicMatchCache<String>()
        index.subscribe("sensors/+/temperature", subscriber: "a", options: SubscriptionOptions())
        #expect(!cache.holds("sensors/1/temperature", for: index))
        #expect(Self.matches(&cache, "sensors/1/temperature", in: index).map(\.subscriber) == ["a"])
        #expect(cache.holds("sensors/1/temperature", for: index))
        // A new subscription invalidates every slot: the next lookup walks and sees it.
        index.subscribe("sensors/#", subscriber: "b", options: SubscriptionOptions())
        #expect(!cache.holds("sensors/1/temperature", for: index))
        #expect(Self.matches(&cache, "sensors/1/temperature", in: index).map(\.subscriber) == ["a", "b"])
        index.unsubscribe("sensors/+/temperature", subscriber: "a")
        #expect(Self.matches(&cache, "sensors/1/temperature", in: index).map(\.subscriber) == ["b"])
        index.removeAll(for: "b")
        #expect(Self.matches(&cache, "sensors/1/temperature", in: index).isEmpty)
        // Removing what is not there changes nothing and keeps the slot.
        #expect(cache.holds("sensors/1/temperature", for: index))
        index.unsubscribe("other", subscriber: "a")
        #expect(cache.holds("sensors/1/temperature", for: index))
    }

    @Test func aTopicTakesAnOccupiedSlotOnlyAfterMissingTwice() {
        var index = SubscriptionIndex<String>()
        var cache = TopicMatchCache<String>(slotCount: 1)
        index.subscribe("#", subscriber: "a", options: SubscriptionOptions())
        _ = Self.matches(&cache, "a", in: index)
        _ = Self.matches(&cache, "b", in: index)
        #expect(cache.holds("a", for: index) && !cache.holds("b", for: index))
        _ = Self.matches(&cache, "b", in: index)
        #expect(cache.holds("b", for: index) && !cache.holds("a", for: index))
    }

    @Test func longTopicsAndWideMatchesAreNotKept() {
        typealias Cache = TopicMatchCache<String>
        var index = SubscriptionIndex<String>()
        var cache = Cache()
        index.subscribe("#", subscriber: "a", options: SubscriptionOptions())
        let long = String(repeating: "x", count: Cache.maximumTopicBytes + 1)
        #expect(Self.matches(&cache, long, in: index).count == 1)
        #expect(!cache.holds(long, for: index))
        let atLimit = String(repeating: "x", count: Cache.maximumTopicBytes)
        #expect(Self.matches(&cache, atLimit, in: index).count == 1)
        #expect(cache.holds(atLimit, for: index))
        // One node per filter: `w/0` ... plus `#`, more than maximumNodes for topic `w/0/.../0`.
        var filter = "w"
        for n in 0..<Cache.maximumNodes {
            index.subscribe(filter + "/#", subscriber: "s\(n)", options: SubscriptionOptions())
            filter += "/0"
        }
        let deep = filter
        #expect(Self.matches(&cache, deep, in: index).count == Cache.maximumNodes + 1)
        #expect(!cache.holds(deep, for: index))
    }

    /// [MQTT-4.7.3-4]: topics are compared byte for byte; `String`'s `==` would call these two equal.
    @Test func canonicallyEquivalentTopicsAreDistinct() {
        var index = SubscriptionIndex<String>()
        var cache = TopicMatchCache<String>(slotCount: 1)
        let composed = "caf\u{e9}", decomposed = "cafe\u{301}"
        index.subscribe(composed, subscriber: "a", options: SubscriptionOptions())
        #expect(Self.matches(&cache, composed, in: index).count == 1)
        #expect(Self.matches(&cache, decomposed, in: index).isEmpty)
        #expect(Self.matches(&cache, decomposed, in: index).isEmpty)
        #expect(Self.matches(&cache, composed, in: index).count == 1)
    }
}
