import Foundation
import MQTTCore
import NIOCore
import TernBroker
import TernServer
import Testing

/// What survives a restart, the same for the in-memory and the SQLite store: each test runs a broker that commits
/// its changes after every step, then replaces it with one restored from the store (as after `kill -9`).
@Suite("Durable state across restarts")
struct DurabilityTests {
    func withBroker(_ kind: StoreKind, settings: BrokerSettings = BrokerSettings(),
                    _ body: (DurableBroker) throws -> Void) throws
    {
        let directory = try TemporaryDirectory()
        try body(DurableBroker(store: try kind.make(directory: directory.path), settings: settings))
    }

    @Test("a persistent session and its subscriptions come back: Session Present, and messages still match",
          arguments: StoreKind.allCases)
    func sessionAndSubscriptions(kind: StoreKind) throws {
        try withBroker(kind) { broker in
            let (subscriber, _) = try broker.connect("sub")
            try broker.subscribe(subscriber, "a/+/c", qos: .atLeastOnce, identifier: 7)
            try broker.disconnect(subscriber)
            try broker.restart()
            let (again, connack) = try broker.connect("sub")
            #expect(connack?.sessionPresent == true)
            let (publisher, _) = try broker.connect("pub", cleanStart: true, expiry: 0)
            try broker.publish(publisher, "a/b/c", "hello", qos: .atLeastOnce)
            let received = broker.publishes(to: again)
            #expect(received.map(\.payloadString) == ["hello"])
            #expect(received.first?.properties.subscriptionIdentifiers == [7])
            #expect(received.first?.qos == .atLeastOnce)
        }
    }

    @Test("messages queued for an offline session are delivered after a restart, in order",
          arguments: StoreKind.allCases)
    func queuedMessages(kind: StoreKind) throws {
        try withBroker(kind) { broker in
            let (subscriber, _) = try broker.connect("sub")
            try broker.subscribe(subscriber, "t", qos: .exactlyOnce)
            try broker.disconnect(subscriber)
            let (publisher, _) = try broker.connect("pub", cleanStart: true, expiry: 0)
            for (index, qos) in [QoS.atLeastOnce, .exactlyOnce, .atLeastOnce].enumerated() {
                try broker.publish(publisher, "t", "m\(index)", qos: qos, packetIdentifier: UInt16(index + 1))
            }
            try broker.restart()
            let (again, _) = try broker.connect("sub")
            #expect(broker.publishes(to: again).map(\.payloadString) == ["m0", "m1", "m2"])
            #expect(broker.publishes(to: again).map(\.qos) == [.atLeastOnce, .exactlyOnce, .atLeastOnce])
        }
    }

    @Test("messages in flight are sent again with DUP; a QoS 2 message past PUBREC gets its PUBREL again",
          arguments: StoreKind.allCases)
    func inflightMessages(kind: StoreKind) throws {
        try withBroker(kind) { broker in
            let (subscriber, _) = try broker.connect("sub")
            try broker.subscribe(subscriber, "t", qos: .exactlyOnce)
            let (publisher, _) = try broker.connect("pub", cleanStart: true, expiry: 0)
            try broker.publish(publisher, "t", "one", qos: .atLeastOnce, packetIdentifier: 1)
            try broker.publish(publisher, "t", "two", qos: .exactlyOnce, packetIdentifier: 2)
            let sent = broker.publishes(to: subscriber)
            #expect(sent.count == 2)
            // The subscriber acknowledges the second with PUBREC: it is released, waiting for PUBCOMP.
            try broker.send(.pubrec(PublishAckPacket(packetIdentifier: sent[1].packetIdentifier!)), from: subscriber)
            try broker.restart()
            let (again, _) = try broker.connect("sub")
            let packets = broker.packets(to: again)
            let resent = broker.publishes(to: again)
            #expect(resent.map(\.payloadString) == ["one"])
            #expect(resent.first?.duplicate == true)
            #expect(resent.first?.packetIdentifier == sent[0].packetIdentifier)
            #expect(packets.contains { packet in
                if case .pubrel(let ack) = packet { ack.packetIdentifier == sent[1].packetIdentifier } else { false }
            })
            // Acknowledged after the restart: nothing is sent a third time.
            try broker.send(.puback(PublishAckPacket(packetIdentifier: sent[0].packetIdentifier!)), from: again)
            try broker.send(.pubcomp(PublishAckPacket(packetIdentifier: sent[1].packetIdentifier!)), from: again)
            try broker.disconnect(again)
            try broker.restart()
            let (third, _) = try broker.connect("sub")
            #expect(broker.publishes(to: third).isEmpty)
        }
    }

    @Test("an inbound QoS 2 message re-sent after a restart is acknowledged, not forwarded twice",
          arguments: StoreKind.allCases)
    func inboundQoS2(kind: StoreKind) throws {
        try withBroker(kind) { broker in
            let (subscriber, _) = try broker.connect("sub")
            try broker.subscribe(subscriber, "t", qos: .exactlyOnce)
            try broker.disconnect(subscriber)
            let (publisher, _) = try broker.connect("pub")
            try broker.publish(publisher, "t", "once", qos: .exactlyOnce, packetIdentifier: 9)
            try broker.restart()
            // The publisher saw PUBREC or not; either way it sends the PUBLISH again, then PUBREL.
            let (again, _) = try broker.connect("pub")
            try broker.publish(again, "t", "once", qos: .exactlyOnce, packetIdentifier: 9, duplicate: true)
            #expect(broker.packets(to: again).contains { if case .pubrec = $0 { true } else { false } })
            try broker.send(.pubrel(PublishAckPacket(packetIdentifier: 9)), from: again)
            #expect(broker.packets(to: again).contains { packet in
                if case .pubcomp(let ack) = packet { ack.reasonCode == .success } else { false }
            })
            let (receiver, _) = try broker.connect("sub")
            #expect(broker.publishes(to: receiver).map(\.payloadString) == ["once"])
        }
    }

    @Test("retained messages come back; one that expired while the broker was down does not",
          arguments: StoreKind.allCases)
    func retainedMessages(kind: StoreKind) throws {
        try withBroker(kind) { broker in
            let (publisher, _) = try broker.connect("pub", cleanStart: true, expiry: 0)
            try broker.publish(publisher, "keep", "k", qos: .atLeastOnce, retain: true)
            try broker.publish(publisher, "short", "s", qos: .atMostOnce, retain: true,
                               properties: [.messageExpiryInterval(10)])
            try broker.publish(publisher, "cleared", "c", qos: .atMostOnce, retain: true)
            try broker.publish(publisher, "cleared", "", qos: .atMostOnce, retain: true)
            try broker.restart(after: 60)
            #expect(broker.broker.retainedMessageCount == 1)
            let (subscriber, _) = try broker.connect("sub", cleanStart: true, expiry: 0)
            try broker.subscribe(subscriber, "#", qos: .atLeastOnce)
            let received = broker.publishes(to: subscriber)
            #expect(received.map(\.topic) == ["keep"])
            #expect(received.first?.retain == true)
            #expect(try broker.store.retainedCount() == 1)
        }
    }

    @Test("a session that expired while the broker was down is gone, with its queue", arguments: StoreKind.allCases)
    func sessionExpiry(kind: StoreKind) throws {
        try withBroker(kind) { broker in
            let (short, _) = try broker.connect("short", expiry: 30)
            try broker.subscribe(short, "t", qos: .atLeastOnce)
            try broker.disconnect(short)
            let (long, _) = try broker.connect("long", expiry: 3600)
            try broker.disconnect(long)
            let (publisher, _) = try broker.connect("pub", cleanStart: true, expiry: 0)
            try broker.publish(publisher, "t", "x", qos: .atLeastOnce)
            try broker.restart(after: 60)
            #expect(try broker.store.sessionCount() == 1)
            #expect(try broker.store.queuedCount(clientID: "short") == 0)
            #expect(try broker.connect("short").1?.sessionPresent == false)
            #expect(try broker.connect("long").1?.sessionPresent == true)
        }
    }

    @Test("a session connected when the broker died is disconnected at restart: its expiry starts, its will goes out",
          arguments: StoreKind.allCases)
    func connectedAtCrash(kind: StoreKind) throws {
        try withBroker(kind) { broker in
            let (watcher, _) = try broker.connect("watcher")
            try broker.subscribe(watcher, "wills/#", qos: .atLeastOnce)
            try broker.disconnect(watcher)
            try broker.connect("dying", expiry: 30,
                               will: LastWill(topic: "wills/dying", payload: ByteBuffer(string: "gone"),
                                              qos: .atLeastOnce))
            try broker.restart()
            let (again, _) = try broker.connect("watcher")
            #expect(broker.publishes(to: again).map(\.payloadString) == ["gone"])
            try broker.advance(seconds: 31)
            #expect(try broker.store.sessionCount() == 1)  // the watcher's only
        }
    }

    @Test("sessions that end with their connection are never written to the store", arguments: StoreKind.allCases)
    func cleanSessionsAreNotStored(kind: StoreKind) throws {
        try withBroker(kind) { broker in
            let (a, _) = try broker.connect("a", cleanStart: true, expiry: 0)
            try broker.subscribe(a, "t", qos: .atLeastOnce)
            let (b, _) = try broker.connect("b", cleanStart: true, expiry: 0, version: .v3_1_1)
            try broker.publish(b, "t", "x", qos: .exactlyOnce)
            try broker.disconnect(a)
            #expect(broker.committed.isEmpty)
            #expect(try broker.store.sessionCount() == 0)
        }
    }

    @Test("queue limits: per session in messages and in payload bytes, and for all sessions together; the limits hold for what was restored",
          arguments: StoreKind.allCases)
    func queueLimits(kind: StoreKind) throws {
        var settings = BrokerSettings()
        settings.maximumQueuedMessages = 5
        settings.maximumQueuedBytes = 10
        settings.maximumQueuedMessagesInTotal = 7
        try withBroker(kind, settings: settings) { broker in
            for name in ["a", "b", "c"] {
                let (id, _) = try broker.connect(name)
                try broker.subscribe(id, "\(name)/#", qos: .atLeastOnce)
                try broker.disconnect(id)
            }
            let (publisher, _) = try broker.connect("pub", cleanStart: true, expiry: 0)
            for index in 0..<6 { try broker.publish(publisher, "a/x", "\(index)", qos: .atLeastOnce) }  // 5 fit
            try broker.publish(publisher, "b/x", "0123456789", qos: .atLeastOnce)  // 10 bytes fit
            try broker.publish(publisher, "b/x", "1", qos: .atLeastOnce)  // one byte too many
            try broker.restart()
            let (publisher2, _) = try broker.connect("pub2", cleanStart: true, expiry: 0)
            try broker.publish(publisher2, "c/x", "1", qos: .atLeastOnce)  // 7th queued in all: fits
            try broker.publish(publisher2, "c/x", "2", qos: .atLeastOnce)  // 8th: over the total
            #expect(broker.broker.statistics.messagesQueued == 7)
            #expect(try broker.store.queuedCount(clientID: "a") == 5)
            #expect(try broker.store.queuedCount(clientID: "b") == 1)
            #expect(try broker.store.queuedCount(clientID: "c") == 1)
            let (a, _) = try broker.connect("a")
            #expect(broker.publishes(to: a).map(\.payloadString) == ["0", "1", "2", "3", "4"])
        }
    }

    /// A persistent subscriber "sub" on `t` goes offline and `count` QoS 1 messages ("0", "1", ...) are queued
    /// for it; returns the publisher's connection.
    @discardableResult
    static func queueForOfflineSubscriber(_ broker: DurableBroker, count: Int) throws -> ConnectionID {
        let (subscriber, _) = try broker.connect("sub")
        try broker.subscribe(subscriber, "t", qos: .atLeastOnce)
        try broker.disconnect(subscriber)
        let (publisher, _) = try broker.connect("pub", cleanStart: true, expiry: 0)
        for index in 0..<count {
            try broker.publish(publisher, "t", "\(index)", qos: .atLeastOnce, packetIdentifier: UInt16(index + 1))
        }
        return publisher
    }

    /// Settings that keep 4 queued messages of a stored session in memory and the rest in the store only.
    static var pagedQueues: BrokerSettings {
        var settings = BrokerSettings()
        settings.queuePageSize = 4
        settings.maximumQueuedMessages = 0
        return settings
    }

    /// Members w1 and w2 of share group g on `jobs`, both offline, and 20 QoS 1 messages sent to them.
    static func queueForOfflineShareGroup(_ broker: DurableBroker) throws {
        for member in ["w1", "w2"] {
            let (id, _) = try broker.connect(member)
            try broker.subscribe(id, "$share/g/jobs", qos: .atLeastOnce)
            try broker.disconnect(id)
        }
        let (publisher, _) = try broker.connect("pub", cleanStart: true, expiry: 0)
        for index in 0..<20 {
            try broker.publish(publisher, "jobs", "\(index)", qos: .atLeastOnce, packetIdentifier: UInt16(index + 1))
        }
    }

    @Test("a shared subscription member's session that ends gives its whole queue, in the store only too, to another member; across a restart too",
          arguments: StoreKind.allCases, [false, true])
    func sharedQueueInStoreGoesToAnotherMember(kind: StoreKind, restart: Bool) throws {
        try withBroker(kind, settings: Self.pagedQueues) { broker in
            try Self.queueForOfflineShareGroup(broker)
            // After a restart, the part of each queue beyond its first page is in the store only from the start.
            if restart { try broker.restart() }
            // Round robin over two offline members: ten each, four of them in memory and six in the store only.
            #expect(broker.broker.gauges().queuedMessagesInStoreOnly == 12)

            // w1 starts over: its session ends, and what it was owed goes to w2, in order after w2's own.
            try broker.connect("w1", cleanStart: true)
            #expect(try broker.store.queuedCount(clientID: "w1") == 0)
            #expect(broker.broker.gauges().queuedMessages == 20)
            let (w2, _) = try broker.connect("w2", receiveMaximum: 100)
            let received = broker.publishes(to: w2).map(\.payloadString)
            #expect(received.count == 20)
            #expect(Set(received) == Set((0..<20).map { "\($0)" }))
            #expect(broker.broker.statistics.messagesDropped == 0)
        }
    }

    @Test("messages a shared subscription member read back from the store and acknowledged are not given to another member; across a restart too",
          arguments: StoreKind.allCases, [false, true])
    func sharedQueueReadBackIsNotGivenAgain(kind: StoreKind, restart: Bool) throws {
        try withBroker(kind, settings: Self.pagedQueues) { broker in
            try Self.queueForOfflineShareGroup(broker)
            if restart { try broker.restart() }
            let (w1, _) = try broker.connect("w1", receiveMaximum: 2)
            var acknowledged = 0
            while let publish = broker.publishes(to: w1).dropFirst(acknowledged).first {
                try broker.send(.puback(PublishAckPacket(packetIdentifier: publish.packetIdentifier!)), from: w1)
                acknowledged += 1
            }
            #expect(acknowledged == 10)
            try broker.disconnect(w1)
            try broker.connect("w1", cleanStart: true)
            let (w2, _) = try broker.connect("w2", receiveMaximum: 100)
            #expect(broker.publishes(to: w2).count == 10)
        }
    }

    @Test("a long queue stays in the store: a page of it in memory, the rest read back in order as the window drains, across a restart too",
          arguments: StoreKind.allCases)
    func longQueueIsPaged(kind: StoreKind) throws {
        var settings = BrokerSettings()
        settings.queuePageSize = 10
        settings.maximumQueuedMessages = 0
        try withBroker(kind, settings: settings) { broker in
            try Self.queueForOfflineSubscriber(broker, count: 95)
            #expect(broker.broker.gauges().queuedMessages == 95)
            #expect(broker.broker.gauges().queuedMessagesInStoreOnly == 85)
            #expect(try broker.store.queuedCount(clientID: "sub") == 95)
            try broker.restart()
            #expect(broker.broker.gauges().queuedMessagesInStoreOnly == 85)

            // Receive Maximum 4: the queue goes out four at a time, each acknowledgement making room for one more.
            var received: [String] = []
            let (again, connack) = try broker.connect("sub", receiveMaximum: 4)
            #expect(connack?.sessionPresent == true)
            var sent = broker.publishes(to: again)
            #expect(sent.count == 4)
            while received.count < 95 {
                guard let next = sent.first else { break }
                sent.removeFirst()
                received.append(next.payloadString)
                let before = broker.publishes(to: again).count
                try broker.send(.puback(PublishAckPacket(packetIdentifier: next.packetIdentifier!)), from: again)
                sent += broker.publishes(to: again).dropFirst(before)
                #expect(broker.broker.gauges().inflightMessages <= 4)
            }
            #expect(received == (0..<95).map { "\($0)" })
            #expect(broker.broker.gauges().queuedMessages == 0)
            #expect(try broker.store.queuedCount(clientID: "sub") == 0)
            #expect(broker.pageReads >= 8)

            // New messages for a connected client whose queue has drained go out at once again.
            let (publisher2, _) = try broker.connect("pub2", cleanStart: true, expiry: 0)
            try broker.publish(publisher2, "t", "after", qos: .atLeastOnce)
            #expect(broker.publishes(to: again).last?.payloadString == "after")
        }
    }

    @Test("messages queued while a page is being read come after it; a session with messages in the store only stays stored until it ends",
          arguments: StoreKind.allCases)
    func queueOrderWhilePaging(kind: StoreKind) throws {
        var settings = BrokerSettings()
        settings.queuePageSize = 4
        settings.maximumQueuedMessages = 0
        try withBroker(kind, settings: settings) { broker in
            let publisher = try Self.queueForOfflineSubscriber(broker, count: 12)
            // Resumes with Session Expiry 0: the session now ends with this connection, but its queue is in the store.
            let (again, _) = try broker.connect("sub", expiry: 0, receiveMaximum: 2)
            var received: [String] = []
            var next = 100
            while let publish = broker.publishes(to: again).dropFirst(received.count).first {
                received.append(publish.payloadString)
                if received.count == 3 {
                    // Queued behind the stored ones while the broker works through them.
                    try broker.publish(publisher, "t", "late", qos: .atLeastOnce, packetIdentifier: UInt16(next))
                    next += 1
                }
                try broker.send(.puback(PublishAckPacket(packetIdentifier: publish.packetIdentifier!)), from: again)
            }
            #expect(received == (0..<12).map { "\($0)" } + ["late"])
            try broker.disconnect(again)
            #expect(try broker.store.sessionCount() == 0)
        }
    }

    @Test("while the store refuses commits, QoS 1 and 2 publications get 0x97 Quota Exceeded; QoS 0 goes through")
    func storeRefusing() throws {
        try withBroker(.memory) { broker in
            let (subscriber, _) = try broker.connect("sub", cleanStart: true, expiry: 0)
            try broker.subscribe(subscriber, "t", qos: .atLeastOnce)
            let (publisher, _) = try broker.connect("pub", cleanStart: true, expiry: 0)
            broker.broker.acceptsDurableMessages = false
            try broker.publish(publisher, "t", "1", qos: .atLeastOnce, packetIdentifier: 1)
            try broker.publish(publisher, "t", "2", qos: .exactlyOnce, packetIdentifier: 2)
            try broker.publish(publisher, "t", "0", qos: .atMostOnce)
            let codes = broker.packets(to: publisher).compactMap { packet -> ReasonCode? in
                switch packet {
                case .puback(let ack), .pubrec(let ack): ack.reasonCode
                default: nil
                }
            }
            #expect(codes == [.quotaExceeded, .quotaExceeded])
            #expect(broker.publishes(to: subscriber).map(\.payloadString) == ["0"])
        }
    }
}

extension PublishPacket {
    var payloadString: String { String(buffer: payload) }
}
