import MQTTClient
import MQTTCore
import NIOCore
import Testing

/// The client state machine without sockets: packets in, actions out, time injected.
@Suite("MQTTConnectionStateMachine")
struct ConnectionStateMachineTests {
    typealias Machine = MQTTConnectionStateMachine
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func connected(_ version: ProtocolVersion = .v5, connack: ConnAckPacket = ConnAckPacket(),
                   settings: Machine.Settings? = nil, keepAlive: UInt16 = 60) -> Machine
    {
        var machine = Machine(settings: settings ?? .init(protocolVersion: version))
        let open = machine.connectionOpened(
            ConnectPacket(protocolVersion: version, keepAlive: keepAlive, clientIdentifier: "c"), now: t0)
        #expect(open.packets.count == 1)
        let action = machine.receive(.connack(connack), now: t0)
        #expect(action.connected != nil)
        #expect(machine.state == .connected)
        return machine
    }

    func publish(_ topic: String = "t", _ payload: String = "p", qos: QoS) -> PublishPacket {
        PublishPacket(topic: topic, payload: ByteBuffer(string: payload), qos: qos)
    }

    func sentPublishes(_ action: Machine.Action) -> [PublishPacket] {
        action.packets.compactMap { if case .publish(let p) = $0 { p } else { nil } }
    }

    @Test func qos0CompletesAtOnce() {
        var machine = connected()
        let action = machine.publish(publish(qos: .atMostOnce), request: 1, now: t0)
        #expect(sentPublishes(action).count == 1)
        #expect(sentPublishes(action)[0].packetIdentifier == nil)
        #expect(action.completions.map(\.0) == [1])
    }

    @Test func qos1CompletesOnPubAckWithItsReasonCode() {
        var machine = connected()
        let sent = machine.publish(publish(qos: .atLeastOnce), request: 7, now: t0)
        let id = try! #require(sentPublishes(sent).first?.packetIdentifier)
        #expect(sent.completions.isEmpty)
        let acked = machine.receive(.puback(PublishAckPacket(packetIdentifier: id, reasonCode: .noMatchingSubscribers)),
                                    now: t0)
        #expect(acked.completions.count == 1)
        #expect(acked.completions[0].0 == 7)
        #expect(acked.completions[0].1 == .published(MQTTPublishResult(reasonCode: .noMatchingSubscribers)))
        #expect(machine.inflightCount == 0)
    }

    @Test func qos1RefusedByServerFails() {
        var machine = connected()
        let id = sentPublishes(machine.publish(publish(qos: .atLeastOnce), request: 1, now: t0))[0].packetIdentifier!
        let acked = machine.receive(.puback(PublishAckPacket(packetIdentifier: id, reasonCode: .notAuthorized)), now: t0)
        #expect(acked.completions[0].1 == .failed(.publishRejected(.notAuthorized, reasonString: nil)))
    }

    @Test func qos2ExchangeSendsPubRelAndCompletesOnPubComp() {
        var machine = connected()
        let id = sentPublishes(machine.publish(publish(qos: .exactlyOnce), request: 3, now: t0))[0].packetIdentifier!
        let rec = machine.receive(.pubrec(PublishAckPacket(packetIdentifier: id)), now: t0)
        #expect(rec.packets == [.pubrel(PublishAckPacket(packetIdentifier: id))])
        #expect(rec.completions.isEmpty)
        let comp = machine.receive(.pubcomp(PublishAckPacket(packetIdentifier: id)), now: t0)
        #expect(comp.completions.map(\.0) == [3])
        #expect(machine.inflightCount == 0)
    }

    @Test func qos2RefusedInPubRecSendsNoPubRel() {
        var machine = connected()
        let id = sentPublishes(machine.publish(publish(qos: .exactlyOnce), request: 3, now: t0))[0].packetIdentifier!
        let rec = machine.receive(.pubrec(PublishAckPacket(packetIdentifier: id, reasonCode: .quotaExceeded)), now: t0)
        #expect(rec.packets.isEmpty)
        #expect(rec.completions[0].1 == .failed(.publishRejected(.quotaExceeded, reasonString: nil)))
    }

    @Test func serverReceiveMaximumLimitsInflightPublishes() {
        var connack = ConnAckPacket()
        connack.properties.receiveMaximum = 2
        var machine = connected(connack: connack)
        var ids: [UInt16] = []
        for request in 1...5 as ClosedRange<UInt64> {
            let action = machine.publish(publish(qos: .atLeastOnce), request: request, now: t0)
            ids += sentPublishes(action).map { $0.packetIdentifier! }
        }
        #expect(ids.count == 2)
        #expect(machine.waitingCount == 3)
        let acked = machine.receive(.puback(PublishAckPacket(packetIdentifier: ids[0])), now: t0)
        #expect(sentPublishes(acked).count == 1)
        #expect(machine.inflightCount == 2)
        #expect(machine.waitingCount == 2)
        // QoS 0 is not limited by the window.
        #expect(sentPublishes(machine.publish(publish(qos: .atMostOnce), request: 9, now: t0)).count == 1)
    }

    @Test func publishLargerThanServerMaximumPacketSizeIsNotSent() {
        var connack = ConnAckPacket()
        connack.properties.maximumPacketSize = 100
        var machine = connected(connack: connack)
        let action = machine.publish(publish("t", String(repeating: "x", count: 200), qos: .atLeastOnce), request: 1,
                                     now: t0)
        #expect(action.packets.isEmpty)
        guard case .failed(.packetTooLarge(_, let maximum)) = action.completions.first?.1 else {
            Issue.record("expected packetTooLarge, got \(action.completions)")
            return
        }
        #expect(maximum == 100)
        #expect(machine.inflightCount == 0)
    }

    @Test func qosAboveServerMaximumIsRefused() {
        var connack = ConnAckPacket()
        connack.properties.maximumQoS = .atLeastOnce
        var machine = connected(connack: connack)
        let action = machine.publish(publish(qos: .exactlyOnce), request: 1, now: t0)
        #expect(action.packets.isEmpty)
        #expect(action.completions.first?.1.failureCode == .qosNotSupported)
    }

    @Test func invalidTopicIsRefusedLocally() {
        var machine = connected()
        let action = machine.publish(publish("a/+", qos: .atMostOnce), request: 1, now: t0)
        #expect(action.packets.isEmpty)
        #expect(action.completions.first?.1.failureCode == .topicNameInvalid)
    }

    @Test func inboundQoS1IsAcknowledgedAndDelivered() {
        var machine = connected()
        let action = machine.receive(
            .publish(PublishPacket(topic: "x", payload: ByteBuffer(string: "1"), qos: .atLeastOnce,
                                   packetIdentifier: 5)), now: t0)
        #expect(action.messages.map(\.topic) == ["x"])
        #expect(action.packets == [.puback(PublishAckPacket(packetIdentifier: 5))])
    }

    @Test func inboundQoS2IsDeliveredOnceEvenWhenResent() {
        var machine = connected()
        let packet = PublishPacket(topic: "x", payload: ByteBuffer(string: "1"), qos: .exactlyOnce, packetIdentifier: 9)
        let first = machine.receive(.publish(packet), now: t0)
        #expect(first.messages.count == 1)
        #expect(first.packets == [.pubrec(PublishAckPacket(packetIdentifier: 9))])
        var again = packet
        again.duplicate = true
        let second = machine.receive(.publish(again), now: t0)
        #expect(second.messages.isEmpty)
        #expect(second.packets == [.pubrec(PublishAckPacket(packetIdentifier: 9))])
        let rel = machine.receive(.pubrel(PublishAckPacket(packetIdentifier: 9)), now: t0)
        #expect(rel.packets == [.pubcomp(PublishAckPacket(packetIdentifier: 9))])
        // After PUBREL the identifier is free: a new message with it is a new message.
        #expect(machine.receive(.publish(packet), now: t0).messages.count == 1)
    }

    @Test func inboundTopicAliasesAreResolved() {
        var machine = connected(settings: .init(protocolVersion: .v5, topicAliasMaximum: 5))
        var first = PublishPacket(topic: "long/topic", payload: ByteBuffer(string: "1"))
        first.properties.topicAlias = 3
        var second = PublishPacket(topic: "", payload: ByteBuffer(string: "2"))
        second.properties.topicAlias = 3
        #expect(machine.receive(.publish(first), now: t0).messages.map(\.topic) == ["long/topic"])
        let message = machine.receive(.publish(second), now: t0).messages.first
        #expect(message?.topic == "long/topic")
        #expect(message?.properties.topicAlias == nil)
    }

    @Test func unknownOrOutOfRangeTopicAliasClosesWithTopicAliasInvalid() {
        for alias: UInt16 in [4, 9] {
            var machine = connected(settings: .init(protocolVersion: .v5, topicAliasMaximum: 5))
            var packet = PublishPacket(topic: "", payload: ByteBuffer(string: "1"))
            packet.properties.topicAlias = alias
            let action = machine.receive(.publish(packet), now: t0)
            #expect(action.packets == [.disconnect(DisconnectPacket(reasonCode: .topicAliasInvalid))])
            #expect(action.close?.reasonCode == .topicAliasInvalid)
        }
    }

    @Test func outboundTopicAliasesReplaceRepeatedTopics() {
        var connack = ConnAckPacket()
        connack.properties.topicAliasMaximum = 1
        var machine = connected(connack: connack, settings: .init(protocolVersion: .v5, sendsTopicAliases: true))
        let sent = (1...3).flatMap { i in
            sentPublishes(machine.publish(publish(i == 3 ? "b" : "a", qos: .atMostOnce), request: UInt64(i), now: t0))
        }
        #expect(sent.map(\.topic) == ["a", "", "b"])
        #expect(sent.map(\.properties.topicAlias) == [1, 1, nil])
    }

    @Test func keepAliveSendsPingAndClosesWithoutAnswer() {
        var machine = connected(keepAlive: 10)
        #expect(machine.tick(now: t0 + .seconds(5)).packets.isEmpty)
        #expect(machine.tick(now: t0 + .seconds(10)).packets == [.pingreq])
        #expect(machine.tick(now: t0 + .seconds(15)).isEmpty)
        _ = machine.receive(.pingresp, now: t0 + .seconds(16))
        #expect(machine.tick(now: t0 + .seconds(19)).isEmpty)
        #expect(machine.tick(now: t0 + .seconds(20)).packets == [.pingreq])
        let late = machine.tick(now: t0 + .seconds(30))
        #expect(late.close != nil)
    }

    @Test func serverKeepAliveReplacesOurs() {
        var connack = ConnAckPacket()
        connack.properties.serverKeepAlive = 2
        var machine = connected(connack: connack, keepAlive: 60)
        #expect(machine.keepAlive == 2)
        #expect(machine.tick(now: t0 + .seconds(2)).packets == [.pingreq])
    }

    @Test func refusedConnAckClosesWithTheReasonCode() {
        var machine = Machine(settings: .init(protocolVersion: .v3_1_1))
        _ = machine.connectionOpened(ConnectPacket(protocolVersion: .v3_1_1, clientIdentifier: "c"), now: t0)
        let action = machine.receive(.connack(ConnAckPacket(reasonCode: .notAuthorized)), now: t0)
        #expect(action.close == .connectionRefused(.notAuthorized, reasonString: nil))
        #expect(machine.state == .disconnected)
    }

    @Test func resumedSessionRetransmitsPublishWithDupAndPubRel() {
        var machine = connected()
        let q1 = sentPublishes(machine.publish(publish("a", qos: .atLeastOnce), request: 1, now: t0))[0]
        let q2 = sentPublishes(machine.publish(publish("b", qos: .exactlyOnce), request: 2, now: t0))[0]
        let q2b = sentPublishes(machine.publish(publish("c", qos: .exactlyOnce), request: 3, now: t0))[0]
        _ = machine.receive(.pubrec(PublishAckPacket(packetIdentifier: q2.packetIdentifier!)), now: t0)
        let lost = machine.connectionClosed(.connectionClosed("test"), keepSession: true)
        #expect(lost.completions.isEmpty)
        _ = machine.connectionOpened(ConnectPacket(cleanStart: false, clientIdentifier: "c"), now: t0)
        let resumed = machine.receive(.connack(ConnAckPacket(sessionPresent: true)), now: t0)
        var dupA = q1
        dupA.duplicate = true
        var dupC = q2b
        dupC.duplicate = true
        #expect(resumed.packets == [.publish(dupA), .pubrel(PublishAckPacket(packetIdentifier: q2.packetIdentifier!)),
                                    .publish(dupC)])
        let done = machine.receive(.puback(PublishAckPacket(packetIdentifier: q1.packetIdentifier!)), now: t0)
        #expect(done.completions.map(\.0) == [1])
    }

    @Test func newSessionPublishesUnacknowledgedMessagesAgain() {
        var machine = connected()
        _ = machine.publish(publish("a", qos: .atLeastOnce), request: 1, now: t0)
        _ = machine.connectionClosed(.connectionClosed("test"), keepSession: true)
        _ = machine.connectionOpened(ConnectPacket(clientIdentifier: "c"), now: t0)
        let fresh = machine.receive(.connack(ConnAckPacket(sessionPresent: false)), now: t0)
        let again = sentPublishes(fresh)
        #expect(again.map(\.topic) == ["a"])
        #expect(again.first?.duplicate == false)
    }

    @Test func publishDuringTheReconnectionHandshakeWaitsForTheConnAck() {
        var settings = Machine.Settings(protocolVersion: .v3_1_1)
        settings.queuesWhileDisconnected = true
        var machine = connected(.v3_1_1, settings: settings)
        _ = machine.connectionClosed(.connectionClosed("test"), keepSession: false)
        _ = machine.connectionOpened(ConnectPacket(protocolVersion: .v3_1_1, clientIdentifier: "c"), now: t0)
        #expect(machine.state == .connecting)
        let during = machine.publish(publish("late", qos: .atLeastOnce), request: 1, now: t0)
        #expect(during.completions.isEmpty)
        #expect(sentPublishes(during).isEmpty)
        let accepted = machine.receive(.connack(ConnAckPacket()), now: t0)
        let sent = sentPublishes(accepted)
        #expect(sent.map(\.topic) == ["late"])
        let done = machine.receive(.puback(PublishAckPacket(packetIdentifier: sent[0].packetIdentifier!)), now: t0)
        #expect(done.completions.map(\.0) == [1])
    }

    @Test func publishWhileConnectingWithoutQueueingFails() {
        var machine = Machine(settings: .init(protocolVersion: .v5))
        _ = machine.connectionOpened(ConnectPacket(clientIdentifier: "c"), now: t0)
        let action = machine.publish(publish(qos: .atLeastOnce), request: 1, now: t0)
        #expect(action.completions.count == 1)
        #expect(sentPublishes(action).isEmpty)
    }

    @Test func lostConnectionWithoutSessionFailsEverything() {
        var machine = connected()
        _ = machine.publish(publish("a", qos: .atLeastOnce), request: 1, now: t0)
        _ = machine.subscribe([Subscription(topicFilter: "x", qos: .atMostOnce)], request: 2, now: t0)
        let lost = machine.connectionClosed(.connectionClosed("gone"), keepSession: false)
        #expect(Set(lost.completions.map(\.0)) == [1, 2])
        #expect(machine.inflightCount == 0)
    }

    @Test func subscribeAndUnsubscribeCompleteWithTheirAcks() {
        var machine = connected()
        let sub = machine.subscribe([Subscription(topicFilter: "a/#", qos: .atLeastOnce)], request: 4, now: t0)
        guard case .subscribe(let packet) = sub.packets.first else {
            Issue.record("no SUBSCRIBE")
            return
        }
        let ack = machine.receive(.suback(SubAckPacket(packetIdentifier: packet.packetIdentifier,
                                                       reasonCodes: [.grantedQoS1])), now: t0)
        #expect(ack.completions[0].1 == .subscribed(MQTTSubscribeResult(reasonCodes: [.grantedQoS1], properties: [])))
        let bad = machine.subscribe([Subscription(topicFilter: "a/#/b", qos: .atLeastOnce)], request: 5, now: t0)
        #expect(bad.packets.isEmpty)
        #expect(bad.completions.first?.1.failureCode == .topicFilterInvalid)
    }

    @Test func serverDisconnectClosesWithItsReason() {
        var machine = connected()
        var disconnect = DisconnectPacket(reasonCode: .sessionTakenOver)
        disconnect.properties.reasonString = "another client"
        let action = machine.receive(.disconnect(disconnect), now: t0)
        #expect(action.close == .disconnectedByServer(.sessionTakenOver, reasonString: "another client"))
    }

    @Test func packetsOtherThanConnAckWhileConnectingAreAProtocolError() {
        var machine = Machine(settings: .init())
        _ = machine.connectionOpened(ConnectPacket(clientIdentifier: "c"), now: t0)
        let action = machine.receive(.pingresp, now: t0)
        #expect(action.close?.reasonCode == .protocolError)
    }
}

extension MQTTConnectionStateMachine.Completion {
    var failureCode: ReasonCode? {
        if case .failed(let error) = self { error.reasonCode } else { nil }
    }
}
