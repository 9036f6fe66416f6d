import Foundation
import MQTTCore
import NIOCore
import Testing

@testable import TernBroker

@Suite struct SystemTopicPublisherTests {
    private func update(_ harness: BrokerHarness, _ publisher: inout SystemTopicPublisher,
                        wire: WireTraffic = WireTraffic()) -> [String: String]
    {
        let before = harness.output.sent.count
        harness.broker.publishSystemTopics(&publisher, wire: wire, now: harness.now, output: &harness.output)
        var values: [String: String] = [:]
        for (_, packet) in harness.output.sent[before...] {
            if case .publish(let publish) = packet { values[publish.topic] = publish.payloadString }
        }
        return values
    }

    @Test func firstUpdatePublishesMosquittoNamesRetainedAndLaterOnlyChanges() {
        let harness = BrokerHarness()
        let (watcher, _) = harness.connect("watcher")
        harness.subscribe(watcher, "$SYS/#")
        var publisher = SystemTopicPublisher(interval: 10, version: "tern version test", now: harness.now)
        #expect(publisher.isDue(at: harness.now))

        let first = update(harness, &publisher)
        #expect(first["$SYS/broker/version"] == "tern version test")
        #expect(first["$SYS/broker/uptime"] == "0 seconds")
        #expect(first["$SYS/broker/clients/connected"] == "1")
        #expect(first["$SYS/broker/subscriptions/count"] == "1")
        #expect(first["$SYS/broker/load/messages/received/15min"] == "0.00")
        #expect(first.count == 24 + 27)
        #expect(harness.publishes(to: watcher).allSatisfy { $0.retain == false })  // live, not from the store
        #expect(harness.broker.retainedMessages.value(for: "$SYS/broker/version") != nil)
        #expect(!publisher.isDue(at: harness.now + .seconds(9)))

        harness.now = harness.now + .seconds(10)
        let (publisherConnection, _) = harness.connect("publisher")
        harness.publish(publisherConnection, "a/b", "12345", qos: .atLeastOnce)
        #expect(publisher.isDue(at: harness.now))
        let second = update(harness, &publisher, wire: WireTraffic())
        #expect(second["$SYS/broker/uptime"] == "10 seconds")
        #expect(second["$SYS/broker/clients/connected"] == "2")
        #expect(second["$SYS/broker/publish/messages/received"] == "1")
        #expect(second["$SYS/broker/publish/bytes/received"] == "5")
        #expect(second["$SYS/broker/version"] == nil)  // unchanged
        #expect(second["$SYS/broker/bytes/sent"] == nil)
    }

    @Test func loadAverageIsARatePerMinuteSmoothedOverItsWindow() {
        var load = LoadAverage()
        load.update(total: 0, seconds: 0)
        for step in 1...600 { load.update(total: step * 10, seconds: 10) }  // 60 per minute for 100 minutes
        #expect(abs(load.oneMinute - 60) < 0.01)
        #expect(abs(load.fiveMinutes - 60) < 0.01)
        #expect(abs(load.fifteenMinutes - 60) < 0.1)
        load.update(total: 6000, seconds: 60)  // a minute with nothing
        #expect(abs(load.oneMinute - 60 * exp(-1)) < 0.01)
        #expect(load.fifteenMinutes > load.fiveMinutes && load.fiveMinutes > load.oneMinute)
        #expect(SystemTopicPublisher.twoDecimals(22.076) == "22.08")
        #expect(SystemTopicPublisher.twoDecimals(0.05) == "0.05")
    }
}
