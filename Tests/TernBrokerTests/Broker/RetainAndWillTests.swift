import MQTTCore
import NIOCore
import Testing
@testable import TernBroker

@Suite("Retained messages and wills")
struct RetainAndWillTests {
    @Test("[MQTT-3.3.1-8] a retained message reaches new subscribers with the retain flag set")
    func retainedOnSubscribe() {
        let harness = BrokerHarness()
        let (pub, _) = harness.connect("pub")
        harness.publish(pub, "device/thermostat/setpoint", "21.5", qos: .atLeastOnce, retain: true)
        let (sub, _) = harness.connect("sub")
        harness.subscribe(sub, "device/+/setpoint", qos: .atLeastOnce)
        let received = harness.publishes(to: sub)
        #expect(received.map(\.payloadString) == ["21.5"])
        #expect(received.first?.retain == true)
        // SUBACK comes before the retained message.
        #expect(harness.packets(to: sub).map(\.type) == [.connack, .suback, .publish])
    }

    @Test("[MQTT-3.3.1-6, MQTT-3.3.1-7] an empty retained payload clears the topic and is not stored")
    func emptyPayloadClears() {
        let harness = BrokerHarness()
        let (pub, _) = harness.connect("pub")
        harness.publish(pub, "t", "on", retain: true)
        harness.publish(pub, "t", "", retain: true)
        #expect(harness.broker.retainedMessageCount == 0)
        let (sub, _) = harness.connect("sub")
        harness.subscribe(sub, "#")
        #expect(harness.publishes(to: sub).isEmpty)
    }

    @Test("[MQTT-3.3.1-12] without Retain As Published, forwarded messages have retain cleared")
    func retainAsPublished() {
        let harness = BrokerHarness()
        let (plain, _) = harness.connect("plain")
        let (rap, _) = harness.connect("rap")
        harness.subscribe(plain, "t")
        harness.subscribe(rap, "t", options: SubscriptionOptions(retainAsPublished: true))
        let (pub, _) = harness.connect("pub")
        harness.publish(pub, "t", "x", retain: true)
        #expect(harness.publishes(to: plain).first?.retain == false)
        #expect(harness.publishes(to: rap).first?.retain == true)
    }

    @Test("Retain Handling 1 sends retained messages only for a new subscription, 2 never")
    func retainHandling() {
        let harness = BrokerHarness()
        let (pub, _) = harness.connect("pub")
        harness.publish(pub, "t", "x", retain: true)
        let (sub, _) = harness.connect("sub")
        harness.subscribe(sub, "t", options: SubscriptionOptions(retainHandling: .sendOnNewSubscribe))
        harness.subscribe(sub, "t", options: SubscriptionOptions(retainHandling: .sendOnNewSubscribe),
                          packetIdentifier: 2)
        #expect(harness.publishes(to: sub).count == 1)
        let (never, _) = harness.connect("never")
        harness.subscribe(never, "t", options: SubscriptionOptions(retainHandling: .doNotSend))
        #expect(harness.publishes(to: never).isEmpty)
    }

    @Test("[MQTT-3.8.4-4] no retained messages on shared subscriptions")
    func noRetainedOnShared() {
        let harness = BrokerHarness()
        let (pub, _) = harness.connect("pub")
        harness.publish(pub, "t", "x", retain: true)
        let (sub, _) = harness.connect("sub")
        harness.subscribe(sub, "$share/g/t")
        #expect(harness.publishes(to: sub).isEmpty)
    }

    @Test("a will is published when the connection drops, and retained when asked: presence as users build it")
    func willOnDrop() {
        let harness = BrokerHarness()
        let will = LastWill(topic: "devices/device-001/status", payload: ByteBuffer(string: "offline"),
                            qos: .atLeastOnce, retain: true)
        let (device, _) = harness.connect("device-001", version: .v3_1_1, will: will)
        harness.publish(device, "devices/device-001/status", "online", qos: .atLeastOnce, retain: true)
        harness.dropConnection(device)
        let (dashboard, _) = harness.connect("dashboard")
        harness.subscribe(dashboard, "devices/+/status", qos: .atLeastOnce)
        #expect(harness.publishes(to: dashboard).map(\.payloadString) == ["offline"])
    }

    @Test("[MQTT-3.1.2-10] a normal DISCONNECT discards the will; MQTT 5 reason 0x04 publishes it")
    func willOnDisconnect() {
        let harness = BrokerHarness()
        let (watcher, _) = harness.connect("watcher")
        harness.subscribe(watcher, "w/#")
        let (a, _) = harness.connect("a", will: LastWill(topic: "w/a", payload: ByteBuffer(string: "a")))
        harness.send(.disconnect(DisconnectPacket()), from: a)
        harness.dropConnection(a)
        let (b, _) = harness.connect("b", will: LastWill(topic: "w/b", payload: ByteBuffer(string: "b")))
        harness.send(.disconnect(DisconnectPacket(reasonCode: .disconnectWithWillMessage)), from: b)
        #expect(harness.publishes(to: watcher).map(\.payloadString) == ["b"])
    }

    @Test("a protocol error publishes the will")
    func willOnProtocolError() {
        let harness = BrokerHarness()
        let (watcher, _) = harness.connect("watcher")
        harness.subscribe(watcher, "w")
        let (bad, _) = harness.connect("bad", will: LastWill(topic: "w", payload: ByteBuffer(string: "bye")))
        harness.send(.connack(ConnAckPacket()), from: bad)
        #expect(harness.publishes(to: watcher).map(\.payloadString) == ["bye"])
    }

    @Test("[MQTT-3.1.3-9] Will Delay: published after the delay, not if the client reconnects in time")
    func willDelay() {
        let harness = BrokerHarness()
        let (watcher, _) = harness.connect("watcher")
        harness.subscribe(watcher, "w/#")
        let will = LastWill(topic: "w/a", payload: ByteBuffer(string: "late"), properties: [.willDelayInterval(5)])
        let expiry: Properties = [.sessionExpiryInterval(100)]
        let (a, _) = harness.connect("a", cleanStart: false, will: will, properties: expiry)
        harness.dropConnection(a)
        harness.advance(seconds: 3)
        #expect(harness.publishes(to: watcher).isEmpty)
        harness.connect("a", cleanStart: false, properties: expiry)
        harness.advance(seconds: 10)
        #expect(harness.publishes(to: watcher).isEmpty)

        let (b, _) = harness.connect("b", cleanStart: false, will: LastWill(
            topic: "w/b", payload: ByteBuffer(string: "b"), properties: [.willDelayInterval(5)]), properties: expiry)
        harness.dropConnection(b)
        harness.advance(seconds: 6)
        #expect(harness.publishes(to: watcher).map(\.payloadString) == ["b"])
    }

    @Test("a delayed will is published when the session ends first")
    func willAtSessionEnd() {
        let harness = BrokerHarness()
        let (watcher, _) = harness.connect("watcher")
        harness.subscribe(watcher, "w")
        let will = LastWill(topic: "w", payload: ByteBuffer(string: "x"), properties: [.willDelayInterval(60)])
        let (a, _) = harness.connect("a", cleanStart: false, will: will, properties: [.sessionExpiryInterval(2)])
        harness.dropConnection(a)
        harness.advance(seconds: 3)
        #expect(harness.publishes(to: watcher).map(\.payloadString) == ["x"])
    }

    @Test("a will to a topic with wildcards never gets this far: the decoder refuses it with 0x90")
    func willTopicValidated() {
        #expect(MQTTDecodingError.invalidTopicName("a/#").reasonCode == .topicNameInvalid)
    }
}
