import MQTTCore
import NIOCore
import Testing
@testable import TernBroker

@Suite("Routing, QoS and flow control")
struct PublishTests {
    @Test("QoS 0 reaches wildcard subscribers, not others")
    func wildcardRouting() {
        let harness = BrokerHarness()
        let (a, _) = harness.connect("a")
        let (b, _) = harness.connect("b")
        let (pub, _) = harness.connect("pub")
        harness.subscribe(a, "home/+/temperature")
        harness.subscribe(b, "factory/#")
        harness.publish(pub, "home/kitchen/temperature", "21")
        harness.publish(pub, "home/kitchen/sensor/temperature", "x")
        #expect(harness.publishes(to: a).map(\.topic) == ["home/kitchen/temperature"])
        #expect(harness.publishes(to: b).isEmpty)
    }

    @Test("[MQTT-4.7.2-1] wildcard filters at the first level do not match $ topics")
    func dollarTopics() {
        let harness = BrokerHarness()
        let (a, _) = harness.connect("a")
        let (sys, _) = harness.connect("sys")
        harness.subscribe(a, "#")
        harness.subscribe(sys, "$app/#")
        harness.publish(sys, "$app/status", "1")
        #expect(harness.publishes(to: a).isEmpty)
        #expect(harness.publishes(to: sys).count == 1)
    }

    @Test("[MQTT-3.8.4-8] delivered at min(published QoS, granted QoS)")
    func qosDowngrade() {
        let harness = BrokerHarness()
        let (sub, _) = harness.connect("sub")
        let (pub, _) = harness.connect("pub")
        harness.subscribe(sub, "t", qos: .atLeastOnce)
        harness.publish(pub, "t", "2", qos: .exactlyOnce)
        harness.publish(pub, "t", "0", qos: .atMostOnce)
        #expect(harness.publishes(to: sub).map(\.qos) == [.atLeastOnce, .atMostOnce])
        #expect(harness.publishes(to: sub).map(\.packetIdentifier) == [1, nil])
    }

    @Test("overlapping subscriptions deliver once, at the highest QoS, with every subscription identifier")
    func overlapping() {
        let harness = BrokerHarness()
        let (sub, _) = harness.connect("sub")
        let (pub, _) = harness.connect("pub")
        harness.subscribe(sub, "a/+", qos: .atMostOnce, identifier: 1, packetIdentifier: 1)
        harness.subscribe(sub, "a/#", qos: .atLeastOnce, identifier: 2, packetIdentifier: 2)
        harness.publish(pub, "a/b", "x", qos: .exactlyOnce)
        let received = harness.publishes(to: sub)
        #expect(received.count == 1)
        #expect(received.first?.qos == .atLeastOnce)
        #expect(received.first?.properties.subscriptionIdentifiers.sorted() == [1, 2])
    }

    @Test("QoS 1 inbound is acknowledged with PUBACK; no subscriber gives 0x10 for MQTT 5")
    func qos1Inbound() {
        let harness = BrokerHarness()
        let (pub, _) = harness.connect("pub")
        harness.publish(pub, "nobody", "x", qos: .atLeastOnce, packetIdentifier: 9)
        #expect(harness.packets(to: pub).last
            == .puback(PublishAckPacket(packetIdentifier: 9, reasonCode: .noMatchingSubscribers)))
    }

    @Test("QoS 2 inbound: PUBREC, a re-sent PUBLISH is not forwarded again, PUBREL gets PUBCOMP")
    func qos2InboundExactlyOnce() {
        let harness = BrokerHarness()
        let (sub, _) = harness.connect("sub")
        let (pub, _) = harness.connect("pub")
        harness.subscribe(sub, "t", qos: .exactlyOnce)
        harness.publish(pub, "t", "once", qos: .exactlyOnce, packetIdentifier: 5)
        harness.publish(pub, "t", "once", qos: .exactlyOnce, packetIdentifier: 5)
        #expect(harness.publishes(to: sub).count == 1)
        #expect(harness.packets(to: pub).filter { $0 == .pubrec(PublishAckPacket(packetIdentifier: 5)) }.count == 2)
        harness.send(.pubrel(PublishAckPacket(packetIdentifier: 5)), from: pub)
        #expect(harness.packets(to: pub).last == .pubcomp(PublishAckPacket(packetIdentifier: 5)))
        // After the release the identifier may carry a new message.
        harness.publish(pub, "t", "again", qos: .exactlyOnce, packetIdentifier: 5)
        #expect(harness.publishes(to: sub).count == 2)
    }

    @Test("PUBREL for an unknown identifier gets PUBCOMP 0x92 in MQTT 5")
    func pubrelUnknown() {
        let harness = BrokerHarness()
        let (pub, _) = harness.connect("pub")
        harness.send(.pubrel(PublishAckPacket(packetIdentifier: 77)), from: pub)
        #expect(harness.packets(to: pub).last
            == .pubcomp(PublishAckPacket(packetIdentifier: 77, reasonCode: .packetIdentifierNotFound)))
    }

    @Test("QoS 2 outbound: PUBREC is answered with PUBREL, PUBCOMP frees the identifier")
    func qos2Outbound() throws {
        let harness = BrokerHarness()
        let (sub, _) = harness.connect("sub")
        let (pub, _) = harness.connect("pub")
        harness.subscribe(sub, "t", qos: .exactlyOnce)
        harness.publish(pub, "t", "x", qos: .exactlyOnce)
        let id = try #require(harness.publishes(to: sub).first?.packetIdentifier)
        harness.send(.pubrec(PublishAckPacket(packetIdentifier: id)), from: sub)
        #expect(harness.packets(to: sub).last == .pubrel(PublishAckPacket(packetIdentifier: id)))
        #expect(harness.broker.sessions["sub"]?.inflight.count == 1)
        harness.send(.pubcomp(PublishAckPacket(packetIdentifier: id)), from: sub)
        #expect(harness.broker.sessions["sub"]?.inflight.isEmpty == true)
    }

    @Test("[MQTT-3.3.4-9] the client's Receive Maximum bounds messages in flight; acks release the queue in order")
    func receiveMaximum() {
        let harness = BrokerHarness()
        let (sub, _) = harness.connect("sub", properties: [.receiveMaximum(2)])
        let (pub, _) = harness.connect("pub")
        harness.subscribe(sub, "t", qos: .atLeastOnce)
        for n in 1...5 { harness.publish(pub, "t", "\(n)", qos: .atLeastOnce, packetIdentifier: UInt16(n)) }
        #expect(harness.publishes(to: sub).map(\.payloadString) == ["1", "2"])
        harness.send(.puback(PublishAckPacket(packetIdentifier: harness.publishes(to: sub)[0].packetIdentifier!)),
                     from: sub)
        #expect(harness.publishes(to: sub).map(\.payloadString) == ["1", "2", "3"])
    }

    @Test("packet identifiers wrap around and skip identifiers still in flight")
    func packetIdentifiersWrap() {
        let harness = BrokerHarness()
        let (sub, _) = harness.connect("sub", properties: [.receiveMaximum(1)])
        let (pub, _) = harness.connect("pub")
        harness.subscribe(sub, "t", qos: .atLeastOnce)
        harness.broker.sessions["sub"]?.lastPacketIdentifier = UInt16.max - 1
        for n in 0..<3 {
            harness.publish(pub, "t", "\(n)", qos: .atLeastOnce)
            let last = harness.publishes(to: sub).last!.packetIdentifier!
            harness.send(.puback(PublishAckPacket(packetIdentifier: last)), from: sub)
        }
        #expect(harness.publishes(to: sub).map(\.packetIdentifier) == [UInt16.max, 1, 2])
    }

    @Test("more inbound QoS 2 messages than the broker's Receive Maximum: DISCONNECT 0x93")
    func brokerReceiveMaximum() {
        var settings = BrokerSettings()
        settings.receiveMaximum = 2
        let harness = BrokerHarness(settings: settings)
        let (pub, connack) = harness.connect("pub")
        #expect(connack?.properties.receiveMaximum == 2)
        for n in 1...3 { harness.publish(pub, "t", "x", qos: .exactlyOnce, packetIdentifier: UInt16(n)) }
        #expect(harness.packets(to: pub).last == .disconnect(DisconnectPacket(reasonCode: .receiveMaximumExceeded)))
    }

    @Test("[MQTT-3.8.3-3] No Local: a client's own publications are not sent back to it")
    func noLocal() {
        let harness = BrokerHarness()
        let (a, _) = harness.connect("a")
        harness.subscribe(a, "chat", options: SubscriptionOptions(qos: .atMostOnce, noLocal: true))
        let (b, _) = harness.connect("b")
        harness.publish(a, "chat", "mine")
        harness.publish(b, "chat", "theirs")
        #expect(harness.publishes(to: a).map(\.payloadString) == ["theirs"])
    }

    @Test("topic aliases: set with a topic, used with an empty topic, unknown or too large ones refused")
    func inboundTopicAliases() {
        let harness = BrokerHarness()
        let (sub, _) = harness.connect("sub")
        harness.subscribe(sub, "long/topic/name")
        let (pub, connack) = harness.connect("pub")
        #expect(connack?.properties.topicAliasMaximum == 10)
        harness.publish(pub, "long/topic/name", "1", properties: [.topicAlias(3)])
        harness.publish(pub, "", "2", properties: [.topicAlias(3)])
        #expect(harness.publishes(to: sub).map(\.payloadString) == ["1", "2"])
        // The alias is per hop: not forwarded [MQTT-3.3.2-?].
        #expect(harness.publishes(to: sub).allSatisfy { $0.properties.topicAlias == nil })
        harness.publish(pub, "x", "3", properties: [.topicAlias(11)])
        #expect(harness.packets(to: pub).last == .disconnect(DisconnectPacket(reasonCode: .topicAliasInvalid)))
        let (other, _) = harness.connect("other")
        harness.publish(other, "", "4", properties: [.topicAlias(1)])
        #expect(harness.packets(to: other).last == .disconnect(DisconnectPacket(reasonCode: .protocolError)))
    }

    @Test("[MQTT-3.3.2-17] user properties and request/response properties are forwarded unchanged, in order")
    func propertiesForwarded() {
        let harness = BrokerHarness()
        let (sub, _) = harness.connect("sub")
        let (pub, _) = harness.connect("pub")
        harness.subscribe(sub, "req")
        let properties: Properties = [
            .userProperty(UserProperty("b", "2")), .responseTopic("replies/1"),
            .correlationData(ByteBuffer(string: "req-42")), .userProperty(UserProperty("a", "1")),
            .contentType("text/plain"), .payloadFormatIndicator(.utf8),
        ]
        harness.publish(pub, "req", "x", properties: properties)
        #expect(harness.publishes(to: sub).first?.properties == properties)
    }

    @Test("[MQTT-3.3.2-6] the Message Expiry Interval counts down while queued; expired messages are dropped")
    func messageExpiry() {
        let harness = BrokerHarness()
        let (sub, _) = harness.connect("sub", cleanStart: false, properties: [.sessionExpiryInterval(600)])
        harness.subscribe(sub, "t", qos: .atLeastOnce)
        harness.dropConnection(sub)
        let (pub, _) = harness.connect("pub")
        harness.publish(pub, "t", "short", qos: .atLeastOnce, packetIdentifier: 1,
                        properties: [.messageExpiryInterval(5)])
        harness.publish(pub, "t", "long", qos: .atLeastOnce, packetIdentifier: 2,
                        properties: [.messageExpiryInterval(100)])
        harness.advance(seconds: 10)
        let (back, _) = harness.connect("sub", cleanStart: false, properties: [.sessionExpiryInterval(600)])
        let received = harness.publishes(to: back)
        #expect(received.map(\.payloadString) == ["long"])
        #expect(received.first?.properties.messageExpiryInterval == 90)
    }

    @Test("[MQTT-3.1.2-25] a message larger than the client's Maximum Packet Size is dropped for it")
    func maximumPacketSize() {
        let harness = BrokerHarness()
        let (small, _) = harness.connect("small", properties: [.maximumPacketSize(64)])
        let (big, _) = harness.connect("big")
        let (pub, _) = harness.connect("pub")
        harness.subscribe(small, "t")
        harness.subscribe(big, "t")
        harness.publish(pub, "t", String(repeating: "x", count: 100))
        harness.publish(pub, "t", "fits")
        #expect(harness.publishes(to: small).map(\.payloadString) == ["fits"])
        #expect(harness.publishes(to: big).count == 2)
    }

    @Test("a persistent session queues QoS 1 while offline and re-sends unacknowledged messages with DUP")
    func offlineQueueAndResend() {
        let harness = BrokerHarness()
        let (sub, _) = harness.connect("sub", cleanStart: false, properties: [.sessionExpiryInterval(600)])
        harness.subscribe(sub, "t", qos: .atLeastOnce)
        let (pub, _) = harness.connect("pub")
        harness.publish(pub, "t", "in flight", qos: .atLeastOnce, packetIdentifier: 1)
        harness.dropConnection(sub)
        harness.publish(pub, "t", "queued", qos: .atLeastOnce, packetIdentifier: 2)
        harness.publish(pub, "t", "qos0 dropped", qos: .atMostOnce)
        let (back, connack) = harness.connect("sub", cleanStart: false, properties: [.sessionExpiryInterval(600)])
        #expect(connack?.sessionPresent == true)
        let received = harness.publishes(to: back)
        #expect(received.map(\.payloadString) == ["in flight", "queued"])
        #expect(received.map(\.duplicate) == [true, false])
    }

    @Test("the offline queue is bounded and drops are counted")
    func boundedQueue() {
        var settings = BrokerSettings()
        settings.maximumQueuedMessages = 3
        let harness = BrokerHarness(settings: settings)
        let (sub, _) = harness.connect("sub", version: .v3_1_1, cleanStart: false)
        harness.subscribe(sub, "t", qos: .atLeastOnce)
        harness.dropConnection(sub)
        let (pub, _) = harness.connect("pub")
        for n in 1...5 { harness.publish(pub, "t", "\(n)", qos: .atLeastOnce, packetIdentifier: UInt16(n)) }
        #expect(harness.broker.sessions["sub"]?.queue.count == 3)
        #expect(harness.broker.statistics.messagesDropped == 2)
    }

    @Test("shared subscriptions: one copy per group, spread over its members")
    func sharedSubscriptions() {
        let harness = BrokerHarness()
        let (w1, _) = harness.connect("w1")
        let (w2, _) = harness.connect("w2")
        let (plain, _) = harness.connect("plain")
        harness.subscribe(w1, "$share/workers/jobs/#")
        harness.subscribe(w2, "$share/workers/jobs/#")
        harness.subscribe(plain, "jobs/#")
        let (pub, _) = harness.connect("pub")
        for n in 1...4 { harness.publish(pub, "jobs/\(n)", "\(n)") }
        #expect(harness.publishes(to: w1).count == 2)
        #expect(harness.publishes(to: w2).count == 2)
        #expect(harness.publishes(to: plain).count == 4)
    }

    @Test("[MQTT-3.8.3-4] No Local on a shared subscription is a protocol error")
    func sharedNoLocal() {
        let harness = BrokerHarness()
        let (c, _) = harness.connect("c")
        harness.subscribe(c, "$share/g/t", options: SubscriptionOptions(noLocal: true))
        #expect(harness.packets(to: c).last == .disconnect(DisconnectPacket(reasonCode: .protocolError)))
    }

    @Test("an invalid filter: SUBACK 0x8F in MQTT 5; in 3.1.1 a protocol violation that closes the connection")
    func invalidFilters() {
        let harness = BrokerHarness()
        let (v5, _) = harness.connect("v5")
        harness.subscribe(v5, "a/#/b")
        #expect(harness.packets(to: v5).last
            == .suback(SubAckPacket(packetIdentifier: 1, reasonCodes: [.topicFilterInvalid])))
        let (v3, _) = harness.connect("v3", version: .v3_1_1)
        harness.subscribe(v3, "a+")
        #expect(!harness.packets(to: v3).contains { $0.type == .suback })
        #expect(harness.isClosed(v3))
    }

    @Test("UNSUBSCRIBE: 0x00 for a removed subscription, 0x11 when none existed; no more deliveries")
    func unsubscribe() {
        let harness = BrokerHarness()
        let (c, _) = harness.connect("c")
        harness.subscribe(c, "t")
        harness.send(.unsubscribe(UnsubscribePacket(packetIdentifier: 4, topicFilters: ["t", "u"])), from: c)
        #expect(harness.packets(to: c).last
            == .unsuback(UnsubAckPacket(packetIdentifier: 4, reasonCodes: [.success, .noSubscriptionExisted])))
        harness.publish(c, "t", "x")
        #expect(harness.publishes(to: c).isEmpty)
    }

    @Test("outbound topic aliases for a client that accepts them: set once, then an empty topic")
    func outboundTopicAliases() {
        let harness = BrokerHarness()
        let (sub, _) = harness.connect("sub", properties: [.topicAliasMaximum(1)])
        harness.subscribe(sub, "#")
        let (pub, _) = harness.connect("pub")
        harness.publish(pub, "a/long/topic", "1")
        harness.publish(pub, "a/long/topic", "2")
        harness.publish(pub, "another", "3")
        let received = harness.publishes(to: sub)
        #expect(received.map(\.topic) == ["a/long/topic", "", "another"])
        #expect(received.map(\.properties.topicAlias) == [1, 1, nil])
        // Aliases belong to the connection [MQTT-3.3.2-7]: a new connection starts again with the topic.
        let (again, _) = harness.connect("sub2", properties: [.topicAliasMaximum(5)])
        harness.subscribe(again, "a/#")
        harness.publish(pub, "a/long/topic", "4")
        #expect(harness.publishes(to: again).map(\.topic) == ["a/long/topic"])
    }

    @Test("clients that do not announce a Topic Alias Maximum get no aliases")
    func noOutboundAliasesByDefault() {
        let harness = BrokerHarness()
        let (sub, _) = harness.connect("sub")
        harness.subscribe(sub, "t")
        let (pub, _) = harness.connect("pub")
        harness.publish(pub, "t", "1")
        harness.publish(pub, "t", "2")
        #expect(harness.publishes(to: sub).allSatisfy { $0.topic == "t" && $0.properties.topicAlias == nil })
    }

    @Test("Request Response Information is answered with Response Information")
    func responseInformation() {
        let harness = BrokerHarness()
        let (_, asked) = harness.connect("rr", properties: [.requestResponseInformation(true)])
        #expect(asked?.properties.responseInformation == "responses/rr")
        let (_, plain) = harness.connect("plain")
        #expect(plain?.properties.responseInformation == nil)
    }

    @Test("a shared subscription member whose session ends hands its unacknowledged messages to another member")
    func sharedRedelivery() throws {
        let harness = BrokerHarness()
        let (w1, _) = harness.connect("w1")
        let (w2, _) = harness.connect("w2")
        harness.subscribe(w1, "$share/g/jobs", qos: .atLeastOnce)
        harness.subscribe(w2, "$share/g/jobs", qos: .atLeastOnce)
        let (pub, _) = harness.connect("pub")
        harness.publish(pub, "jobs", "a", qos: .atLeastOnce, packetIdentifier: 1)
        harness.publish(pub, "jobs", "b", qos: .atLeastOnce, packetIdentifier: 2)
        let first = harness.publishes(to: w1).map(\.payloadString)
        let second = harness.publishes(to: w2).map(\.payloadString)
        #expect(first.count == 1 && second.count == 1)
        // w1 never acknowledges and its session ends with its connection.
        harness.dropConnection(w1)
        #expect(harness.publishes(to: w2).map(\.payloadString).sorted() == ["a", "b"])
    }
}

@Suite("Mosquitto's message_size_limit and upgrade_outgoing_qos")
struct MosquittoLimitTests {
    @Test("a payload over message_size_limit is dropped: PUBACK/PUBREC 0x83 for MQTT 5, a plain ack for 3.1.1")
    func messageSizeLimit() {
        var settings = BrokerSettings()
        settings.messageSizeLimit = 4
        let harness = BrokerHarness(settings: settings)
        let (sub, _) = harness.connect("sub")
        harness.subscribe(sub, "t")
        let (v5, _) = harness.connect("v5")
        let (v3, _) = harness.connect("v3", version: .v3_1_1)
        harness.publish(v5, "t", "12345", qos: .atLeastOnce, packetIdentifier: 1)
        harness.publish(v5, "t", "12345", qos: .exactlyOnce, packetIdentifier: 2)
        harness.publish(v3, "t", "12345", qos: .atLeastOnce, packetIdentifier: 3)
        harness.publish(v5, "t", "1234", qos: .atLeastOnce, packetIdentifier: 4)
        #expect(harness.packets(to: v5) == [
            .connack(ConnAckPacket(properties: [.topicAliasMaximum(10)])),
            .puback(PublishAckPacket(packetIdentifier: 1, reasonCode: .implementationSpecificError)),
            .pubrec(PublishAckPacket(packetIdentifier: 2, reasonCode: .implementationSpecificError)),
            .puback(PublishAckPacket(packetIdentifier: 4)),
        ])
        #expect(harness.packets(to: v3).last == .puback(PublishAckPacket(packetIdentifier: 3)))
        #expect(harness.publishes(to: sub).map(\.payloadString) == ["1234"])
    }

    @Test("upgrade_outgoing_qos delivers at the granted QoS")
    func upgradeOutgoingQoS() {
        var settings = BrokerSettings()
        settings.upgradeOutgoingQoS = true
        let harness = BrokerHarness(settings: settings)
        let (sub, _) = harness.connect("sub")
        harness.subscribe(sub, "t", qos: .exactlyOnce)
        let (pub, _) = harness.connect("pub")
        harness.publish(pub, "t", "0")
        #expect(harness.publishes(to: sub).map(\.qos) == [.exactlyOnce])
    }

    @Test("a topic routed from the topic match cache follows every change to the subscriptions")
    func topicMatchCacheFollowsSubscriptions() {
        let harness = BrokerHarness()
        let (a, _) = harness.connect("a")
        let (b, _) = harness.connect("b", cleanStart: true)
        let (pub, _) = harness.connect("pub")
        harness.subscribe(a, "t/+")
        for n in 0..<3 { harness.publish(pub, "t/1", "\(n)") }
        #expect(harness.broker.topicMatches.holds("t/1", for: harness.broker.subscriptionIndex))
        harness.subscribe(b, "t/#")
        harness.publish(pub, "t/1", "b subscribed")
        harness.send(.unsubscribe(UnsubscribePacket(packetIdentifier: 2, topicFilters: ["t/+"])), from: a)
        harness.publish(pub, "t/1", "a unsubscribed")
        harness.send(.disconnect(DisconnectPacket()), from: b)  // the session ends with its subscriptions
        harness.publish(pub, "t/1", "b gone")
        #expect(harness.publishes(to: a).map(\.payloadString) == ["0", "1", "2", "b subscribed"])
        #expect(harness.publishes(to: b).map(\.payloadString) == ["b subscribed", "a unsubscribed"])
        #expect(harness.broker.subscriptionCount == 0)
    }
}

@Suite("max_inflight_bytes")
struct InflightBytesTests {
    @Test("QoS 1 messages wait in the queue while the payload bytes in flight would pass the limit")
    func inflightBytes() {
        var settings = BrokerSettings()
        settings.maximumInflightBytes = 10
        let harness = BrokerHarness(settings: settings)
        let (sub, _) = harness.connect("sub")
        harness.subscribe(sub, "t", qos: .atLeastOnce)
        let (pub, _) = harness.connect("pub")
        for (n, payload) in ["123456", "7890", "abcdefghijkl", "x"].enumerated() {
            harness.publish(pub, "t", payload, qos: .atLeastOnce, packetIdentifier: UInt16(n + 1))
        }
        // 6 + 4 bytes fit; the 12-byte message waits (and then goes alone, as nothing else is in flight).
        #expect(harness.publishes(to: sub).map(\.payloadString) == ["123456", "7890"])
        for publish in harness.publishes(to: sub) {
            harness.send(.puback(PublishAckPacket(packetIdentifier: publish.packetIdentifier!)), from: sub)
        }
        #expect(harness.publishes(to: sub).map(\.payloadString) == ["123456", "7890", "abcdefghijkl"])
        harness.send(.puback(PublishAckPacket(packetIdentifier: harness.publishes(to: sub)[2].packetIdentifier!)),
                     from: sub)
        #expect(harness.publishes(to: sub).map(\.payloadString).last == "x")
    }
}
