import MQTTCore
import NIOCore
import Testing
@testable import TernBroker

@Suite("Limits: connections, identifiers, topics, subscriptions, properties, slow consumers")
struct LimitsTests {
    private func settings(_ change: (inout BrokerSettings) -> Void) -> BrokerSettings {
        var settings = BrokerSettings()
        change(&settings)
        return settings
    }

    private func userProperties(_ count: Int) -> Properties {
        Properties((0..<count).map { .userProperty(UserProperty("k\($0)", "v")) })
    }

    @Test("max_connections: a CONNECT beyond the limit gets CONNACK 0x89 Server Busy; one under it after a close is accepted",
          arguments: [ProtocolVersion.v5, .v3_1_1])
    func maximumConnections(version: ProtocolVersion) {
        let harness = BrokerHarness(settings: settings { $0.maximumConnections = 2 })
        let (first, _) = harness.connect("a", version: version)
        harness.connect("b", version: version)
        let (third, refused) = harness.connect("c", version: version)
        #expect(refused?.reasonCode == .serverBusy)
        #expect(refused?.reasonCode.connectReturnCode == 3)
        #expect(harness.isClosed(third))
        harness.dropConnection(first)
        #expect(harness.connect("d", version: version).1?.reasonCode == .success)
    }

    @Test("max_connection_rate: connections beyond the rate in one second get CONNACK 0x9F; the next second is accepted")
    func connectionRate() {
        let harness = BrokerHarness(settings: settings { $0.maximumConnectionRate = 3 })
        for index in 0..<3 {
            #expect(harness.connect("c\(index)").1?.reasonCode == .success)
        }
        let (id, refused) = harness.connect("c3")
        #expect(refused?.reasonCode == .connectionRateExceeded)
        #expect(harness.isClosed(id))
        harness.advance(seconds: 1)
        #expect(harness.connect("c4").1?.reasonCode == .success)
    }

    @Test("max_client_id_length: a longer client identifier gets CONNACK 0x85 (3.1.1: return code 2)",
          arguments: [ProtocolVersion.v5, .v3_1_1])
    func clientIdentifierLength(version: ProtocolVersion) {
        let harness = BrokerHarness(settings: settings { $0.maximumClientIDLength = 8 })
        #expect(harness.connect("12345678", version: version).1?.reasonCode == .success)
        let (id, refused) = harness.connect("123456789", version: version)
        #expect(refused?.reasonCode == .clientIdentifierNotValid)
        #expect(harness.isClosed(id))
    }

    @Test("max_keepalive: MQTT 3 asking for more (or for none) is refused with return code 2, MQTT 5 gets Server Keep Alive")
    func maximumKeepAlive() {
        let harness = BrokerHarness(settings: settings { $0.maximumKeepAlive = 30 })
        #expect(harness.connect("v3-ok", version: .v3_1_1, keepAlive: 30).1?.reasonCode == .success)
        #expect(harness.connect("v3-long", version: .v3_1_1, keepAlive: 31).1?.reasonCode.connectReturnCode == 2)
        #expect(harness.connect("v3-none", version: .v3_1_1, keepAlive: 0).1?.reasonCode.connectReturnCode == 2)
        let connack = harness.connect("v5", version: .v5, keepAlive: 300).1
        #expect(connack?.reasonCode == .success)
        #expect(connack?.properties.serverKeepAlive == 30)
    }

    @Test("max_topic_length and max_topic_levels: PUBLISH beyond them gets PUBACK 0x90 and is not routed")
    func publishTopicLimits() {
        let harness = BrokerHarness(settings: settings {
            $0.maximumTopicLength = 16
            $0.maximumTopicLevels = 3
        })
        let (subscriber, _) = harness.connect("sub")
        harness.subscribe(subscriber, "#")
        let (publisher, _) = harness.connect("pub")
        harness.publish(publisher, "a/b/c", "fits", qos: .atLeastOnce, packetIdentifier: 1)
        harness.publish(publisher, "a/b/c/d", "deep", qos: .atLeastOnce, packetIdentifier: 2)
        harness.publish(publisher, String(repeating: "x", count: 17), "long", qos: .atLeastOnce, packetIdentifier: 3)
        let acks = harness.packets(to: publisher).compactMap { if case .puback(let a) = $0 { a } else { nil } }
        #expect(acks.map(\.reasonCode) == [.success, .topicNameInvalid, .topicNameInvalid])
        #expect(harness.publishes(to: subscriber).map(\.payloadString) == ["fits"])
        #expect(harness.broker.statistics.drops[.topicLimit] == 2)
        #expect(!harness.isClosed(publisher))
    }

    @Test("max_topic_levels: a deeper filter gets SUBACK 0x8F (3.1.1: 0x80); the others in the packet are granted")
    func subscribeTopicLimits() {
        let harness = BrokerHarness(settings: settings { $0.maximumTopicLevels = 2 })
        let (id, _) = harness.connect("c")
        harness.send(.subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: [
            Subscription(topicFilter: "a/b", qos: .atLeastOnce), Subscription(topicFilter: "a/b/c", qos: .atLeastOnce),
        ])), from: id)
        #expect(harness.packets(to: id).last == .suback(SubAckPacket(
            packetIdentifier: 1, reasonCodes: [.grantedQoS1, .topicFilterInvalid])))
        #expect(harness.broker.subscriptionCount == 1)
    }

    @Test("max_subscriptions_per_client: filters beyond the count get SUBACK 0x97; re-subscribing a held filter is fine")
    func subscriptionsPerClient() {
        let harness = BrokerHarness(settings: settings { $0.maximumSubscriptionsPerClient = 3 })
        let (id, _) = harness.connect("c")
        let filters = (0..<5).map { Subscription(topicFilter: "t/\($0)", qos: .atMostOnce) }
        harness.send(.subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: filters)), from: id)
        #expect(harness.packets(to: id).last == .suback(SubAckPacket(
            packetIdentifier: 1, reasonCodes: [.success, .success, .success, .quotaExceeded, .quotaExceeded])))
        harness.subscribe(id, "t/0", qos: .atLeastOnce, packetIdentifier: 2)
        #expect(harness.packets(to: id).last == .suback(SubAckPacket(packetIdentifier: 2, reasonCodes: [.grantedQoS1])))
        #expect(harness.broker.subscriptionCount == 3)
    }

    @Test("max_user_properties: CONNECT beyond it gets CONNACK 0x97, a later packet DISCONNECT 0x97")
    func userProperties() {
        let harness = BrokerHarness(settings: settings { $0.maximumUserProperties = 4 })
        #expect(harness.connect("ok", properties: userProperties(4)).1?.reasonCode == .success)
        let (refused, connack) = harness.connect("many", properties: userProperties(5))
        #expect(connack?.reasonCode == .quotaExceeded)
        #expect(harness.isClosed(refused))
        let (id, _) = harness.connect("publisher")
        harness.publish(id, "t", "x", properties: userProperties(5))
        #expect(harness.packets(to: id).last == .disconnect(DisconnectPacket(reasonCode: .quotaExceeded)))
        #expect(harness.isClosed(id))
    }

    @Test("a will topic beyond the topic limits gets CONNACK 0x90")
    func willTopicLimits() {
        let harness = BrokerHarness(settings: settings { $0.maximumTopicLevels = 2 })
        let will = LastWill(topic: "a/b/c", payload: ByteBuffer(string: "gone"))
        #expect(harness.connect("c", will: will).1?.reasonCode == .topicNameInvalid)
    }

    @Test("max_qos: announced in CONNACK, SUBSCRIBE granted at most it, a will or PUBLISH above it refused (0x9B)",
          arguments: [ProtocolVersion.v5, .v3_1_1])
    func maximumQoS(version: ProtocolVersion) {
        let harness = BrokerHarness(settings: settings { $0.maximumQoS = .atLeastOnce })
        let (client, connack) = harness.connect("c", version: version)
        // [MQTT-3.2.2-9]; 3.1.1 cannot announce it.
        #expect(connack?.properties.maximumQoS == (version == .v5 ? .atLeastOnce : nil))
        harness.subscribe(client, "t", qos: .exactlyOnce)
        #expect(harness.packets(to: client).last == .suback(SubAckPacket(packetIdentifier: 1,
                                                                          reasonCodes: [.grantedQoS1])))
        harness.publish(client, "t", "fine", qos: .atLeastOnce)
        #expect(harness.publishes(to: client).map(\.qos) == [.atLeastOnce])
        harness.publish(client, "t", "too high", qos: .exactlyOnce, packetIdentifier: 2)  // [MQTT-3.2.2-11]
        if version == .v5 {
            #expect(harness.packets(to: client).last == .disconnect(DisconnectPacket(reasonCode: .qosNotSupported)))
        }
        #expect(harness.isClosed(client))
        let will = LastWill(topic: "w", payload: ByteBuffer(string: "gone"), qos: .exactlyOnce)
        // [MQTT-3.2.2-12]
        #expect(harness.connect("w", version: version, will: will).1?.reasonCode == .qosNotSupported)
    }

    @Test("a listener's own Maximum QoS and Topic Alias Maximum apply to its connections only")
    func listenerProtocolLimits() {
        let harness = BrokerHarness()
        let limits = ListenerProtocolLimits(maximumQoS: .atMostOnce, topicAliasMaximum: 2)
        let (limited, connack) = harness.connect("limited", protocolLimits: limits)
        #expect(connack?.properties.maximumQoS == .atMostOnce)
        #expect(connack?.properties.topicAliasMaximum == 2)
        let (open, defaults) = harness.connect("open")
        #expect(defaults?.properties.maximumQoS == nil)
        #expect(defaults?.properties.topicAliasMaximum == 10)
        harness.subscribe(limited, "t", qos: .exactlyOnce)
        harness.subscribe(open, "t", qos: .exactlyOnce)
        #expect(harness.packets(to: limited).last == .suback(SubAckPacket(packetIdentifier: 1,
                                                                           reasonCodes: [.grantedQoS0])))
        harness.publish(open, "t", "x", qos: .exactlyOnce, properties: [.topicAlias(10)])
        #expect(!harness.isClosed(open))
        harness.publish(limited, "t", "x", properties: [.topicAlias(3)])
        #expect(harness.packets(to: limited).last == .disconnect(DisconnectPacket(reasonCode: .topicAliasInvalid)))
        let (other, _) = harness.connect("other", protocolLimits: ListenerProtocolLimits(maximumQoS: .atMostOnce))
        harness.publish(other, "t", "x", qos: .atLeastOnce)
        #expect(harness.packets(to: other).last == .disconnect(DisconnectPacket(reasonCode: .qosNotSupported)))
    }

    @Test("slow consumer: QoS 0 to a connection that is not writable is dropped and counted; QoS 1 still goes out")
    func slowConsumer() {
        let harness = BrokerHarness()
        let (stalled, _) = harness.connect("stalled")
        let (healthy, _) = harness.connect("healthy")
        harness.subscribe(stalled, "t", qos: .atLeastOnce)
        harness.subscribe(healthy, "t", qos: .atLeastOnce)
        let (publisher, _) = harness.connect("pub")
        harness.output.stalled = [stalled]
        harness.publish(publisher, "t", "q0")
        harness.publish(publisher, "t", "q1", qos: .atLeastOnce)
        #expect(harness.publishes(to: stalled).map(\.payloadString) == ["q1"])
        #expect(harness.publishes(to: healthy).map(\.payloadString) == ["q0", "q1"])
        #expect(harness.broker.statistics.drops[.slowConsumer] == 1)
    }
}
