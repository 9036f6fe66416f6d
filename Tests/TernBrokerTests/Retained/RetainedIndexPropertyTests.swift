import PropertyBased
import Testing

@testable import TernBroker

@Suite struct RetainedIndexPropertyTests {
    /// (topic index, value or nil to remove), topics from `TopicUniverse`.
    static let operation = zip(Gen.int(in: 0..<TopicUniverse.shared.topics.count), Gen.int(in: -2...5))
        .map { topic, value in (topic: topic, value: value < 0 ? nil : value) }

    static func expectEqual(_ index: RetainedIndex<Int>, _ model: [Int: Int], _ context: @autoclosure () -> String) {
        let universe = TopicUniverse.shared
        #expect(index.count == model.count, "count, \(context())")
        for (topicIndex, topic) in universe.topics.enumerated() where index.value(for: topic) != model[topicIndex] {
            Issue.record("value for \(topic), \(context())")
            return
        }
        for (filterIndex, filter) in universe.filters.enumerated() {
            let matched = index.matches(filter: filter)
            let actual = Dictionary(matched.map { ($0.topic, $0.value) }, uniquingKeysWith: { _, _ in -1 })
            let expected = Dictionary(uniqueKeysWithValues: model.filter { universe.table[filterIndex][$0.key] }
                .map { (universe.topics[$0.key], $0.value) })
            if actual != expected || matched.count != expected.count {
                Issue.record("filter \(filter): \(matched) != \(expected), \(context())")
                return
            }
        }
    }

    @Test func randomSetsMatchTheReference() async {
        await propertyCheck(count: 100, input: Self.operation.array(of: 1...80)) { ops in
            var index = RetainedIndex<Int>()
            var model: [Int: Int] = [:]
            for (topic, value) in ops {
                let previous = index.set(TopicUniverse.shared.topics[topic], value)
                #expect(previous == model[topic])
                model[topic] = value
            }
            Self.expectEqual(index, model, "\(ops)")
            for topic in TopicUniverse.shared.topics { index.set(topic, nil) }
            #expect(index.isEmpty && index.trieNodeCount == 1 && index.slots.chunks.isEmpty, "\(ops)")
        }
    }

    /// A cursor taken a few matches at a time visits what one whole walk does, each match once, while the index it
    /// was made from is written between its steps (slots freed and reused, nodes pruned and added).
    @Test func cursorInStepsMatchesTheWholeWalk() async {
        let input = zip(Self.operation.array(of: 1...80), Self.operation.array(of: 0...40), Gen.int(in: 1...7))
        await propertyCheck(count: 60, input: input) { ops, writes, step in
            var snapshot = RetainedIndex<Int>()
            for (topic, value) in ops { snapshot.set(TopicUniverse.shared.topics[topic], value) }
            for filter in TopicUniverse.shared.filters {
                var index = snapshot
                var cursor = RetainedMatchCursor(index, filter: filter)
                var seen: [String: Int] = [:]
                var visits = 0
                var pendingWrites = writes[...]
                while !cursor.isFinished {
                    var taken = 0
                    cursor.next { topic, value in
                        guard taken < step else { return false }
                        taken += 1
                        visits += 1
                        seen[topic] = value
                        return true
                    }
                    if let (topic, value) = pendingWrites.popFirst() {
                        index.set(TopicUniverse.shared.topics[topic], value)
                    }
                }
                let expected = Dictionary(snapshot.matches(filter: filter).map { ($0.topic, $0.value) },
                                          uniquingKeysWith: { first, _ in first })
                #expect(seen == expected && visits == expected.count,
                        "filter \(filter), step \(step), \(ops), writes \(writes)")
            }
        }
    }

    @Test func snapshotsSurviveWritesToCopies() async {
        let input = zip(Self.operation.array(of: 0...60), Self.operation.array(of: 1...60))
        await propertyCheck(count: 100, input: input) { pair in
            let (before, after) = pair
            var index = RetainedIndex<Int>()
            var model: [Int: Int] = [:]
            for (topic, value) in before {
                index.set(TopicUniverse.shared.topics[topic], value)
                model[topic] = value
            }
            let snapshot = index
            let snapshotModel = model
            for (topic, value) in after {
                index.set(TopicUniverse.shared.topics[topic], value)
                model[topic] = value
            }
            Self.expectEqual(snapshot, snapshotModel, "snapshot, \(before) then \(after)")
            Self.expectEqual(index, model, "writer, \(before) then \(after)")
        }
    }
}
