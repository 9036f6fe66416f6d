import MQTTCore
import NIOCore
import Testing

@testable import TernBroker

@Suite struct BrokerStatisticsTests {
    @Test func dropsAreCountedByCause() {
        var settings = BrokerSettings()
        settings.maximumQueuedMessages = 1
        let harness = BrokerHarness(settings: settings)
        let (subscriber, _) = harness.connect("sleeper", properties: [.sessionExpiryInterval(600)])
        harness.subscribe(subscriber, "q/#", qos: .atLeastOnce)
        harness.dropConnection(subscriber)
        let (publisher, _) = harness.connect("pub")
        harness.publish(publisher, "q/1", "x", qos: .atMostOnce)
        harness.publish(publisher, "q/2", "x", qos: .atLeastOnce, packetIdentifier: 1)
        harness.publish(publisher, "q/3", "x", qos: .atLeastOnce, packetIdentifier: 2)
        let statistics = harness.broker.statistics
        #expect(statistics.drops[.offlineQoS0] == 1)
        #expect(statistics.drops[.queueFull] == 1)
        #expect(statistics.messagesDropped == 2)
        #expect(statistics.received.messages(.atLeastOnce) == 2)
        #expect(statistics.received.bytes(.atMostOnce) == 1)
    }

    @Test func deliveryLatencyIsZeroForImmediateSendsAndTheQueueTimeForQueuedOnes() {
        let harness = BrokerHarness()
        let (online, _) = harness.connect("online")
        harness.subscribe(online, "t", qos: .atLeastOnce)
        let (offline, _) = harness.connect("offline", properties: [.sessionExpiryInterval(600)])
        harness.subscribe(offline, "t", qos: .atLeastOnce)
        harness.dropConnection(offline)
        let (publisher, _) = harness.connect("publisher")
        harness.publish(publisher, "t", "x", qos: .atLeastOnce)
        harness.now = harness.now + .seconds(3)
        harness.connect("offline", cleanStart: false, properties: [.sessionExpiryInterval(600)])
        let latency = harness.broker.statistics.deliveryLatency
        #expect(latency.count == 2)
        // Cumulative: the immediate one in the first bucket, the queued one (3 s) under the 10 s bound.
        #expect(latency.cumulativeCounts == [1, 1, 1, 1, 1, 2, 2, 2])
        #expect(latency.sumNanoseconds == 3_000_000_000)
    }
}
