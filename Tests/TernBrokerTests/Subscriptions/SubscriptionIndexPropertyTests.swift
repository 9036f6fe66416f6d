import MQTTCore
import PropertyBased
import Testing

@testable import TernBroker

/// One step of a random sequence of index writes.
struct SubscriptionOperation: Sendable, CustomStringConvertible {
    enum Kind: Sendable { case subscribe, unsubscribe, removeAll }
    var kind: Kind
    var filter: Int  // index into TopicUniverse.filters
    var shareGroup: String?
    var subscriber: String
    var qos: QoS
    var identifier: UInt32?

    var description: String {
        let filter = TopicUniverse.shared.filters[self.filter]
        let group = shareGroup.map { "$share/\($0)/" } ?? ""
        switch kind {
        case .subscribe:
            return "sub(\(subscriber), \(group)\(filter), \(qos.rawValue), \(identifier.map(String.init) ?? "-"))"
        case .unsubscribe: return "unsub(\(subscriber), \(group)\(filter))"
        case .removeAll: return "removeAll(\(subscriber))"
        }
    }

    static let generator = zip(
        Gen.int(in: 0...9), Gen.int(in: 0..<TopicUniverse.shared.filters.count), Gen.int(in: 0...3),
        Gen.int(in: 0...3), Gen.int(in: 0...2), Gen.int(in: 0...3)
    ).map { kind, filter, group, subscriber, qos, identifier in
        SubscriptionOperation(
            kind: kind < 6 ? .subscribe : kind < 9 ? .unsubscribe : .removeAll,
            filter: filter,
            shareGroup: group < 2 ? nil : "g\(group)",
            subscriber: "c\(subscriber)",
            qos: QoS(rawValue: UInt8(qos))!,
            identifier: identifier == 0 ? nil : UInt32(identifier)
        )
    }
}

/// The model the index is checked against: a plain dictionary of subscriptions.
struct SubscriptionModel {
    typealias Entry = SubscriptionIndex<String>.Entry
    struct Key: Hashable { var filter: Int; var shareGroup: String?; var subscriber: String }

    var entries: [Key: Entry] = [:]
    var order: [String: [Key]] = [:]

    /// Applies the operation; returns what the index should return (Bool or removed count).
    mutating func apply(_ op: SubscriptionOperation) -> Int {
        let key = Key(filter: op.filter, shareGroup: op.shareGroup, subscriber: op.subscriber)
        switch op.kind {
        case .subscribe:
            let isNew = entries[key] == nil
            entries[key] = Entry(subscriber: op.subscriber, filter: TopicUniverse.shared.filters[op.filter],
                                 shareGroup: op.shareGroup, options: SubscriptionOptions(qos: op.qos),
                                 identifier: op.identifier)
            if isNew { order[op.subscriber, default: []].append(key) }
            return isNew ? 1 : 0
        case .unsubscribe:
            guard entries.removeValue(forKey: key) != nil else { return 0 }
            order[op.subscriber]?.removeAll { $0 == key }
            return 1
        case .removeAll:
            let keys = order.removeValue(forKey: op.subscriber) ?? []
            for key in keys { entries[key] = nil }
            return keys.count
        }
    }

    func matches(topic: Int) -> [Entry] {
        entries.filter { TopicUniverse.shared.table[$0.key.filter][topic] }.map(\.value)
    }

    func subscriptions(of subscriber: String) -> [Entry] {
        (order[subscriber] ?? []).map { entries[$0]! }
    }
}

extension SubscriptionIndex<String> {
    mutating func apply(_ op: SubscriptionOperation) -> Int {
        let filter = TopicUniverse.shared.filters[op.filter]
        switch op.kind {
        case .subscribe:
            return subscribe(filter, shareGroup: op.shareGroup, subscriber: op.subscriber,
                             options: SubscriptionOptions(qos: op.qos), identifier: op.identifier) ? 1 : 0
        case .unsubscribe:
            return unsubscribe(filter, shareGroup: op.shareGroup, subscriber: op.subscriber) ? 1 : 0
        case .removeAll:
            return removeAll(for: op.subscriber)
        }
    }
}

@Suite struct SubscriptionIndexPropertyTests {
    static let subscribers = (0...3).map { "c\($0)" }

    /// Checks every topic of the universe, every subscriber's list and the count against the model.
    static func expectEqual(_ index: SubscriptionIndex<String>, _ model: SubscriptionModel,
                            _ context: @autoclosure () -> String)
    {
        let universe = TopicUniverse.shared
        #expect(index.count == model.entries.count, "count, \(context())")
        for (topicIndex, topic) in universe.topics.enumerated() {
            let actual = index.matches(topicName: topic).sorted { "\($0)" < "\($1)" }
            let expected = model.matches(topic: topicIndex).sorted { "\($0)" < "\($1)" }
            if actual != expected {
                Issue.record("topic \(topic): \(actual) != \(expected), \(context())")
                return
            }
        }
        for subscriber in subscribers {
            #expect(index.subscriptions(of: subscriber) == model.subscriptions(of: subscriber),
                    "\(subscriber), \(context())")
        }
    }

    @Test func randomOperationsMatchTheReference() async {
        await propertyCheck(count: 150, input: SubscriptionOperation.generator.array(of: 1...60)) { ops in
            var index = SubscriptionIndex<String>()
            var model = SubscriptionModel()
            for op in ops {
                let expected = model.apply(op)
                let actual = index.apply(op)
                #expect(actual == expected, "\(op) returned \(actual), in \(ops)")
            }
            Self.expectEqual(index, model, "\(ops)")
            // Everything removed leaves only the root: empty nodes are pruned.
            for subscriber in Self.subscribers { index.removeAll(for: subscriber) }
            #expect(index.isEmpty && index.subscriberCount == 0 && index.trieNodeCount == 1, "\(ops)")
        }
    }

    @Test func snapshotsSurviveWritesToCopies() async {
        let input = zip(SubscriptionOperation.generator.array(of: 0...40),
                        SubscriptionOperation.generator.array(of: 1...40))
        await propertyCheck(count: 100, input: input) { pair in
            let (before, after) = pair
            var index = SubscriptionIndex<String>()
            var model = SubscriptionModel()
            for op in before {
                _ = index.apply(op)
                _ = model.apply(op)
            }
            let snapshot = index
            let snapshotModel = model
            for op in after {
                _ = index.apply(op)
                _ = model.apply(op)
            }
            Self.expectEqual(snapshot, snapshotModel, "snapshot, \(before) then \(after)")
            Self.expectEqual(index, model, "writer, \(before) then \(after)")
        }
    }

    /// Wider levels and more subscribers than `TopicUniverse`, so that child tables and entry sets move to their
    /// hash tries and back; checked against the reference matcher directly.
    @Test func wideLevelsAndManySubscribersMatchTheReference() async {
        let names = ["a", "", "$SYS"] + (0..<12).map { "n\($0)" }
        let filterLevel = Gen.element(of: names + ["+", "+"])
        let filter = zip(filterLevel.array(of: 1...3), Gen.bool).map { levels, hash in
            let filter = (levels.map { $0 ?? "" } + (hash ? ["#"] : [])).joined(separator: "/")
            return filter.isEmpty ? "#" : filter  // a filter is at least one character [MQTT-4.7.3-1]
        }
        let operation = zip(Gen.int(in: 0...3), filter, Gen.int(in: 0..<24), Gen.bool)
        let topic = Gen.element(of: names).array(of: 1...3).map { $0.map { $0 ?? "" }.joined(separator: "/") }
        await propertyCheck(count: 40, input: operation.array(of: 1...200), topic.array(of: 30)) { ops, topics in
            var index = SubscriptionIndex<String>()
            var model: [String: SubscriptionIndex<String>.Entry] = [:]  // "filter|group|subscriber"
            for (kind, filter, subscriber, shared) in ops {
                let group = shared ? "g" : nil
                let key = "\(filter)|\(group ?? "")|c\(subscriber)"
                if kind < 3 {
                    let entry = SubscriptionIndex<String>.Entry(subscriber: "c\(subscriber)", filter: filter,
                                                                 shareGroup: group)
                    let isNew = index.subscribe(filter, shareGroup: group, subscriber: entry.subscriber,
                                                options: entry.options)
                    #expect(isNew == (model[key] == nil))
                    model[key] = entry
                } else {
                    let existed = index.unsubscribe(filter, shareGroup: group, subscriber: "c\(subscriber)")
                    #expect(existed == (model.removeValue(forKey: key) != nil))
                }
            }
            #expect(index.count == model.count)
            for topic in topics where !topic.isEmpty {
                let expected = model.values.filter { ReferenceTopicMatcher.matches(filter: $0.filter, topic: topic) }
                #expect(Set(index.matches(topicName: topic)) == Set(expected), "\(topic)")
                #expect(index.matches(topicName: topic).count == expected.count, "\(topic)")
            }
            for subscriber in 0..<24 { index.removeAll(for: "c\(subscriber)") }
            #expect(index.isEmpty && index.trieNodeCount == 1)
        }
    }
}
