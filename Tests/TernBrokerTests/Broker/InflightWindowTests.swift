import MQTTCore
import NIOCore
import PropertyBased
import Testing

@testable import TernBroker

@Suite struct InflightWindowTests {
    /// A message told apart by its topic; with `identified`, also by a subscription identifier (kept apart from the
    /// window's elements).
    private func inflight(_ marker: Int, qos: QoS = .atLeastOnce, identified: Bool = false) -> InflightMessage {
        let message = ApplicationMessage(topic: "t/\(marker)", payload: ByteBuffer(), qos: qos, retain: false)
        let delivery = OutboundDelivery(message: message, qos: qos, retain: false,
                                        subscriptionIdentifiers: identified ? [UInt32(marker + 1)] : [])
        return InflightMessage(delivery: delivery, stage: .published)
    }

    /// The marker of a message built by `inflight`, checked against its subscription identifier if it has one.
    private func marker(_ message: InflightMessage?) -> UInt64? {
        guard let delivery = message?.delivery, let marker = UInt64(delivery.message.topic.dropFirst(2)) else {
            return nil
        }
        #expect(delivery.subscriptionIdentifiers.allSatisfy { UInt64($0) == marker + 1 })
        return marker
    }

    /// Removes the message with this identifier; returns its marker (nil if there was none).
    private func removed(_ id: UInt16, from window: inout InflightWindow) -> UInt64? {
        let marker = marker(window[id])
        let wasRemoved = window.remove(id)
        #expect(wasRemoved == (marker != nil))
        return marker
    }

    @Test func acknowledgementsInOrderEmptyTheWindowFromItsFront() {
        var window = InflightWindow()
        for id in UInt16(1)...100 { window.append(inflight(Int(id)), packetIdentifier: id) }
        #expect(window.count == 100)
        #expect(window.contains(100) && !window.contains(101) && !window.contains(0))
        for id in UInt16(1)...100 {
            #expect(window.elements.first?.packetIdentifier == id)
            #expect(removed(id, from: &window) == UInt64(id))
        }
        #expect(window.isEmpty && !window.contains(1))
    }

    @Test func anUnknownIdentifierIsNeitherFoundNorRemoved() {
        var window = InflightWindow()
        window.append(inflight(1), packetIdentifier: 7)
        #expect(window[8] == nil)
        let removedUnknown = window.remove(8)
        #expect(!removedUnknown)
        let unknownReleased = window.setStage(.released, of: 8)
        let knownReleased = window.setStage(.released, of: 7)
        #expect(!unknownReleased && knownReleased)
        #expect(window[7]?.stage == .released)
        #expect(window.count == 1)
    }

    /// Random appends of fresh identifiers, removals (mostly the oldest, as clients acknowledge in order, and any
    /// other, known or not) and stage changes, across the threshold where identifiers get a bit each (32 up, and
    /// back down): the window agrees with a list in sending order.
    @Test func anElementIsSmallAndGivesBackTheDeliveryItWasGiven() {
        #expect(MemoryLayout<InflightWindow.Element>.stride <= 16)  // 96 when it held the delivery whole
        var delivery = inflight(9, qos: .exactlyOnce).delivery
        delivery.storeSequence = 9
        delivery.subscriptionIdentifiers = [3, 4]
        delivery.sharedSubscription = SharedSubscription(shareName: "g", topicFilter: "t/#")
        delivery.queuedAt = .uptimeNanoseconds(5)
        var window = InflightWindow()
        window.append(InflightMessage(delivery: delivery, stage: .published), packetIdentifier: 1)
        window.append(inflight(0), packetIdentifier: 2)
        let first = window[1]!.delivery, second = window[2]!.delivery
        #expect(first.message == delivery.message && first.qos == .exactlyOnce && !first.retain)
        #expect(first.subscriptionIdentifiers == [3, 4] && first.sharedSubscription == delivery.sharedSubscription)
        #expect(first.storeSequence == 0 && first.queuedAt == nil)  // read as it left the queue: not kept
        #expect(second.qos == .atLeastOnce && second.subscriptionIdentifiers.isEmpty && second.storeSequence == 0)
        #expect(second.sharedSubscription == nil && window[1]?.stage == .published)
        #expect(window.qosAndStage(of: 1)! == (.exactlyOnce, .published) && window.qosAndStage(of: 3) == nil)
    }

    @Test func qos2ExchangesInOrderWithManyReleasedAhead() {
        var window = InflightWindow()
        for id in UInt16(1)...200 { window.append(inflight(Int(id), qos: .exactlyOnce), packetIdentifier: id) }
        // PUBRECs in order, PUBCOMPs 50 behind them: the released messages stay at the window's front.
        for id in UInt16(1)...200 {
            #expect(window[id]?.stage == .published)
            let released = window.setStage(.released, of: id)
            #expect(released)
            if id > 50 {
                #expect(window[id - 50]?.stage == .released)
                #expect(removed(id - 50, from: &window) == UInt64(id - 50))
            }
        }
        #expect(window.count == 50 && window.messages.allSatisfy { $0.stage == .released })
        // Out of order, and after a removal in the middle, still found.
        window.append(inflight(201, qos: .exactlyOnce), packetIdentifier: 201)
        window.append(inflight(202, qos: .exactlyOnce), packetIdentifier: 202)
        #expect(removed(160, from: &window) == 160)
        let released = (window.setStage(.released, of: 202), window.setStage(.released, of: 201))
        #expect(released == (true, true) && window[202]?.stage == .released && window[201]?.stage == .released)
        #expect(removed(151, from: &window) == 151)
        #expect(marker(window[201]) == 201 && marker(window[202]) == 202)
    }

    @Test func randomChangesAgreeWithAnOrderedList() async {
        let op = zip(Gen.int(in: 0...4), Gen.int(in: 0..<80))
        await propertyCheck(count: 200, input: op.array(of: 1...300)) { ops in
            var window = InflightWindow()
            var model: [(id: UInt16, marker: Int, released: Bool)] = []
            for (step, (kind, pick)) in ops.enumerated() {
                switch kind {
                case 0, 1:
                    // The next identifier not in flight, as ClientSession allocates them.
                    var id = UInt16(pick + 1)
                    while model.contains(where: { $0.id == id }) { id = id % 200 + 1 }
                    window.append(inflight(step, identified: step % 3 == 0), packetIdentifier: id)
                    model.append((id, step, false))
                case 2:
                    guard let oldest = model.first else { continue }
                    #expect(removed(oldest.id, from: &window) == UInt64(oldest.marker))
                    model.removeFirst()
                case 3:
                    let id = UInt16(pick + 1)
                    let index = model.firstIndex { $0.id == id }
                    #expect(removed(id, from: &window) == index.map { UInt64(model[$0].marker) })
                    if let index { model.remove(at: index) }
                default:
                    let id = UInt16(pick + 1)
                    let index = model.firstIndex { $0.id == id }
                    let released = window.setStage(.released, of: id)
                    #expect(released == (index != nil))
                    if let index { model[index].released = true }
                }
                #expect(window.count == model.count)
            }
            #expect(window.elements.map(\.packetIdentifier) == model.map(\.id))
            #expect(window.messages.map { marker($0) } == model.map { UInt64($0.marker) })
            #expect(window.messages.map { $0.stage == .released } == model.map(\.released))
            for id in UInt16(0)...201 {
                let expected = model.first { $0.id == id }
                #expect(window.contains(id) == (expected != nil))
                #expect(marker(window[id]) == expected.map { UInt64($0.marker) })
            }
        }
    }
}
