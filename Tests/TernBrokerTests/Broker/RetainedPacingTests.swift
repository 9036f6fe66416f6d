import MQTTCore
import NIOCore
import Testing
@testable import TernBroker

/// Retained messages on SUBSCRIBE go out a batch at a time (`retainedBatchSize`), as the subscriber takes them.
@Suite("Retained messages on SUBSCRIBE, paced")
struct RetainedPacingTests {
    static func harness(retained count: Int, batch: Int = 10) -> (BrokerHarness, ConnectionID) {
        var settings = BrokerSettings()
        settings.retainedBatchSize = batch
        let harness = BrokerHarness(settings: settings)
        let (publisher, _) = harness.connect("pub")
        for index in 0..<count { harness.publish(publisher, "r/\(index)", "\(index)", qos: .atLeastOnce, retain: true) }
        return (harness, publisher)
    }

    /// Calls `continueRetained` as the server does at the end of every turn, until it says nothing is left.
    static func continueAll(_ harness: BrokerHarness, _ id: ConnectionID) {
        while harness.broker.continueRetained(to: id, now: harness.now, output: &harness.output) {}
    }

    @Test("QoS 0: one batch per turn, every retained message exactly once, SUBACK first")
    func qos0Batches() {
        let (harness, _) = Self.harness(retained: 35)
        let (sub, _) = harness.connect("sub")
        harness.subscribe(sub, "r/#")
        #expect(harness.publishes(to: sub).count == 10)
        #expect(harness.packets(to: sub).dropFirst().first?.type == .suback)
        #expect(harness.broker.continueRetained(to: sub, now: harness.now, output: &harness.output))
        #expect(harness.publishes(to: sub).count == 20)
        Self.continueAll(harness, sub)
        let payloads = harness.publishes(to: sub).map(\.payloadString)
        #expect(payloads.count == 35 && Set(payloads) == Set((0..<35).map { "\($0)" }))
        #expect(harness.publishes(to: sub).allSatisfy { $0.retain })
        #expect(!harness.broker.hasPendingRetained)
    }

    @Test("QoS 1: paced by the subscriber's window; the queue never holds more than a batch")
    func qos1PacedByWindow() {
        let (harness, _) = Self.harness(retained: 35)
        let (sub, _) = harness.connect("sub", properties: [.receiveMaximum(4)])
        harness.subscribe(sub, "r/+", qos: .atLeastOnce)
        var acknowledged = 0
        while acknowledged < 35 {
            let sent = harness.publishes(to: sub)
            guard acknowledged < sent.count else { break }
            harness.send(.puback(PublishAckPacket(packetIdentifier: sent[acknowledged].packetIdentifier!)), from: sub)
            acknowledged += 1
            _ = harness.broker.continueRetained(to: sub, now: harness.now, output: &harness.output)
            #expect(harness.broker.gauges().queuedMessages <= 10)
            #expect(harness.broker.gauges().inflightMessages <= 4)
        }
        let payloads = harness.publishes(to: sub).map(\.payloadString)
        #expect(payloads.count == 35 && Set(payloads) == Set((0..<35).map { "\($0)" }))
        #expect(!harness.broker.hasPendingRetained)
    }

    @Test("a retained message replaced or cleared between batches: the subscriber gets the newer one, never the older after it")
    func changesBetweenBatches() {
        let (harness, publisher) = Self.harness(retained: 35)
        let (sub, _) = harness.connect("sub")
        harness.subscribe(sub, "r/#")
        let first = Set(harness.publishes(to: sub).map(\.topic))
        let later = (0..<35).map { "r/\($0)" }.filter { !first.contains($0) }
        harness.publish(publisher, later[0], "new", retain: true)
        harness.publish(publisher, later[1], "", retain: true)
        Self.continueAll(harness, sub)
        let byTopic = Dictionary(grouping: harness.publishes(to: sub), by: \.topic)
        #expect(byTopic[later[0]]?.map(\.payloadString) == ["new", "new"])  // live, then as the retained one
        #expect(byTopic[later[1]]?.map(\.payloadString) == [""])  // the clearing message only, live
        #expect(byTopic.count == 35)
    }

    @Test("the connection ends with retained messages still owed: a persistent session gets them queued for its return")
    func disconnectQueuesTheRest() {
        let (harness, _) = Self.harness(retained: 25)
        let (sub, _) = harness.connect("sub", cleanStart: false, properties: [.sessionExpiryInterval(60)])
        harness.subscribe(sub, "r/#", qos: .atLeastOnce)
        harness.dropConnection(sub)
        #expect(!harness.broker.hasPendingRetained)
        let (again, connack) = harness.connect("sub", cleanStart: false, properties: [.sessionExpiryInterval(60)])
        #expect(connack?.sessionPresent == true)
        var acknowledged = Set<UInt16>()
        while let next = harness.publishes(to: again).first(where: { !acknowledged.contains($0.packetIdentifier!) }) {
            acknowledged.insert(next.packetIdentifier!)
            harness.send(.puback(PublishAckPacket(packetIdentifier: next.packetIdentifier!)), from: again)
        }
        let before = harness.publishes(to: sub).filter { $0.qos == .atLeastOnce }.count
        #expect(before + harness.publishes(to: again).filter { !$0.duplicate }.count >= 25)
        let all = Set((harness.publishes(to: sub) + harness.publishes(to: again)).map(\.payloadString))
        #expect(all == Set((0..<25).map { "\($0)" }))
    }

    @Test("unsubscribing stops the retained messages still owed for that filter")
    func unsubscribeStops() {
        let (harness, _) = Self.harness(retained: 35)
        let (sub, _) = harness.connect("sub")
        harness.subscribe(sub, "r/#")
        harness.send(.unsubscribe(UnsubscribePacket(packetIdentifier: 2, topicFilters: ["r/#"])), from: sub)
        #expect(!harness.broker.hasPendingRetained)
        Self.continueAll(harness, sub)
        #expect(harness.publishes(to: sub).count == 10)
    }
}
