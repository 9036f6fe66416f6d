import MQTTCore
import NIOCore
import Testing

@testable import TernBroker

/// Publisher flow control (`Broker+FlowControl.swift`): a publisher that fills a live subscriber's queue is not read
/// until the queue drains; nothing that would stall a client's own acknowledgements, and no hold without end.
@Suite("Publisher flow control")
struct FlowControlTests {
    /// A window of 2 and a queue limit of 10: the mark is 5 queued messages, resumption at 2.
    static func harness(flowControl: Bool = true) -> BrokerHarness {
        var settings = BrokerSettings()
        settings.maximumInflightMessages = 2
        settings.maximumQueuedMessages = 10
        settings.publisherFlowControl = flowControl
        return BrokerHarness(settings: settings)
    }

    /// A QoS 1 subscriber on `t` that has acknowledged one message (so it is live), and a publisher.
    static func liveSubscriber(_ h: BrokerHarness) -> (subscriber: ConnectionID, publisher: ConnectionID) {
        let (subscriber, _) = h.connect("subscriber")
        h.subscribe(subscriber, "t", qos: .atLeastOnce)
        let (publisher, _) = h.connect("publisher", keepAlive: 10)
        h.publish(publisher, "t", "first", qos: .atLeastOnce, packetIdentifier: 1)
        acknowledgeAll(h, subscriber)
        return (subscriber, publisher)
    }

    static func acknowledgeAll(_ h: BrokerHarness, _ subscriber: ConnectionID) {
        var acknowledged = Set<UInt16>()
        while let next = h.publishes(to: subscriber).compactMap(\.packetIdentifier)
            .first(where: { !acknowledged.contains($0) })
        {
            acknowledged.insert(next)
            h.send(.puback(PublishAckPacket(packetIdentifier: next)), from: subscriber)
        }
    }

    /// `liveSubscriber`, with the publisher held: 7 messages, 2 in flight and 5 queued, the mark.
    static func heldPublisher() -> (h: BrokerHarness, subscriber: ConnectionID, publisher: ConnectionID) {
        let h = harness()
        let (subscriber, publisher) = liveSubscriber(h)
        publish(h, publisher, count: 7)
        #expect(h.output.paused == [publisher])
        return (h, subscriber, publisher)
    }

    static func publish(_ h: BrokerHarness, _ publisher: ConnectionID, count: Int, from first: UInt16 = 10) {
        for i in 0..<count {
            h.publish(publisher, "t", "m\(i)", qos: .atLeastOnce, packetIdentifier: first + UInt16(i))
        }
    }

    @Test("a publisher filling a live subscriber's queue to the mark is paused, and resumed once it drains to half")
    func pausedThenResumed() {
        let h = Self.harness()
        let (subscriber, publisher) = Self.liveSubscriber(h)
        // 2 in flight, then the queue: the 5th queued message reaches the mark.
        Self.publish(h, publisher, count: 6)
        #expect(h.output.paused.isEmpty)
        Self.publish(h, publisher, count: 1, from: 50)
        #expect(h.output.paused == [publisher])
        #expect(h.broker.statistics.publishersHeldBack == 1)
        // Every message read was acknowledged to the publisher all the same.
        #expect(h.packets(to: publisher).filter { if case .puback = $0 { true } else { false } }.count == 8)
        // Each acknowledgement moves a queued message into the window: 5, 4, 3 queued, and at 2 the publisher is
        // read again.
        var acknowledged = 1  // "first"
        while h.output.paused.contains(publisher) {
            let next = h.publishes(to: subscriber)[acknowledged]
            acknowledged += 1
            h.send(.puback(PublishAckPacket(packetIdentifier: next.packetIdentifier!)), from: subscriber)
        }
        #expect(acknowledged == 1 + 3)
        #expect(h.output.readingChanges.map(\.paused) == [true, false])
        // Nothing was dropped.
        #expect(h.broker.statistics.queuedMessagesDropped == 0)
    }

    @Test("a subscriber that has acknowledged nothing for a second holds no one: its queue limits drop instead")
    func stalledSubscriberHoldsNoOne() {
        let h = Self.harness()
        let (_, publisher) = Self.liveSubscriber(h)
        h.advance(seconds: 1.5)
        Self.publish(h, publisher, count: 20)
        #expect(h.output.paused.isEmpty)
        #expect(h.broker.statistics.queuedMessagesDropped > 0)
    }

    @Test("publisher_flow_control false: no publisher is paused, the queue limits drop")
    func switchedOff() {
        let h = Self.harness(flowControl: false)
        let (_, publisher) = Self.liveSubscriber(h)
        Self.publish(h, publisher, count: 20)
        #expect(h.output.readingChanges.isEmpty)
        #expect(h.broker.statistics.queuedMessagesDropped > 0)
    }

    @Test("a publisher with messages in flight to it is never paused: its acknowledgements drain queues")
    func publisherWithItsOwnDeliveriesIsNotPaused() {
        let h = Self.harness()
        let (_, publisher) = Self.liveSubscriber(h)
        h.subscribe(publisher, "back", qos: .atLeastOnce, packetIdentifier: 2)
        let (other, _) = h.connect("other")
        h.publish(other, "back", "to the publisher", qos: .atLeastOnce)
        Self.publish(h, publisher, count: 20)
        #expect(h.output.paused.isEmpty)
    }

    @Test("a paused publisher sent a QoS 1 message is read again at once, to get its acknowledgement")
    func pausedPublisherGettingAMessageIsResumed() {
        let (h, _, publisher) = Self.heldPublisher()
        h.subscribe(publisher, "back", qos: .atLeastOnce, packetIdentifier: 2)
        let (other, _) = h.connect("other")
        h.publish(other, "back", "to the publisher", qos: .atLeastOnce)
        #expect(h.output.paused.isEmpty)
        #expect(h.publishes(to: publisher).map(\.payloadString) == ["to the publisher"])
    }

    @Test("a subscriber going offline releases its publishers")
    func offlineSubscriberReleases() {
        let (h, subscriber, _) = Self.heldPublisher()
        h.dropConnection(subscriber)
        #expect(h.output.paused.isEmpty)
    }

    @Test("no hold lasts over a second, and a held publisher's keep alive counts from its release")
    func holdsAreBounded() {
        let (h, _, publisher) = Self.heldPublisher()
        h.advance(seconds: 0.5)
        #expect(h.output.paused == [publisher])
        h.advance(seconds: 0.6)
        #expect(h.output.paused.isEmpty)
        // Keep alive 10 s, so 15 s without a packet ends the connection: 15.6 s have passed since its last packet,
        // but only 14.5 s since it was released, when it could send again.
        h.advance(seconds: 14.5)
        #expect(!h.isClosed(publisher))
        // The subscriber has been silent for 15.6 s: it holds no one any more.
        Self.publish(h, publisher, count: 3, from: 100)
        #expect(h.output.paused.isEmpty)
    }

    @Test("the publisher's connection closing forgets its hold")
    func closedPublisherIsForgotten() {
        let (h, subscriber, publisher) = Self.heldPublisher()
        h.dropConnection(publisher)
        #expect(h.broker.heldPublishers.isEmpty)
        Self.acknowledgeAll(h, subscriber)
        #expect(h.broker.publishersHeldBy.values.allSatisfy { $0.isEmpty })
    }
}
