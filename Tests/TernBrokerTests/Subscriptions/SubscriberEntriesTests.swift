import MQTTCore
import PropertyBased
import Testing

@testable import TernBroker

@Suite struct SubscriberEntriesTests {
    typealias Entry = SubscriptionIndex<String>.Entry

    /// Crosses the threshold of indexed positions (16 up, 8 down) in both directions.
    @Test func randomUpsertsAndRemovalsAgreeWithADictionary() async {
        let op = zip(Gen.int(in: 0...2), Gen.int(in: 0..<40), Gen.int(in: 0...2))
        await propertyCheck(count: 200, input: op.array(of: 1...150)) { ops in
            var entries = SubscriberEntries<String>()
            var model: [String: Entry] = [:]
            for (kind, subscriber, qos) in ops {
                let name = "c\(subscriber)"
                if kind < 2 {
                    let options = SubscriptionOptions(qos: QoS(rawValue: UInt8(qos))!)
                    let entry = Entry(subscriber: name, filter: "f", options: options)
                    let added = entries.upsert(entry)
                    #expect(added == (model[name] == nil))
                    model[name] = entry
                } else {
                    let removed = entries.remove(name)
                    #expect(removed == model.removeValue(forKey: name))
                }
                #expect(entries.count == model.count)
            }
            for subscriber in 0..<40 { #expect(entries.entry(for: "c\(subscriber)") == model["c\(subscriber)"]) }
            var iterated: [Entry] = []
            entries.forEach { iterated.append($0) }
            #expect(Dictionary(uniqueKeysWithValues: iterated.map { ($0.subscriber, $0) }) == model)
            let members = SubscriptionIndex<String>.ShareGroupMembers(entries)
            #expect(Array(members) == iterated)
            #expect(members.indices.map { members[$0] } == iterated)
        }
    }
}
