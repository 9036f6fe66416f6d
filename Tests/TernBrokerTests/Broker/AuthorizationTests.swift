import MQTTCore
import NIOCore
import TernBroker
import Testing

@Suite("Access control on publish, subscribe and delivery")
struct AuthorizationTests {
    static let list = try! AccessControlList(parsing: """
        topic read public/#
        user alice
        topic readwrite alice/#
        topic read shared/#
        topic deny shared/secret
        topic write wills/alice
        pattern readwrite clients/%c/#
        """, path: "acl")

    /// Connects through authentication, accepted as `username` under the list.
    func connect(_ harness: BrokerHarness, _ clientID: String, username: String?, version: ProtocolVersion = .v5,
                 will: LastWill? = nil, list: AccessControlList? = Self.list) -> ConnectionID
    {
        let id = harness.open(requiresAuthentication: true)
        harness.send(.connect(ConnectPacket(protocolVersion: version, clientIdentifier: clientID, will: will,
                                            username: username)), from: id)
        harness.broker.authenticationCompleted(id, result: .accepted(username: username, accessControl: list),
                                               now: harness.now, output: &harness.output)
        return id
    }

    func acks(_ harness: BrokerHarness, _ id: ConnectionID) -> [PublishAckPacket] {
        harness.packets(to: id).compactMap { packet -> PublishAckPacket? in
            switch packet {
            case .puback(let ack), .pubrec(let ack): ack
            default: nil
            }
        }
    }

    func subackCodes(_ harness: BrokerHarness, _ id: ConnectionID) -> [ReasonCode] {
        harness.packets(to: id).flatMap { packet -> [ReasonCode] in
            if case .suback(let suback) = packet { suback.reasonCodes } else { [] }
        }
    }

    @Test("a publication the list does not allow: PUBACK/PUBREC 0x87 for MQTT 5, acknowledged and dropped for 3.1.1")
    func publishDenied() {
        let harness = BrokerHarness()
        let (watcher, _) = harness.connect("watcher")
        harness.subscribe(watcher, "#")
        let v5 = connect(harness, "a5", username: "alice")
        let v3 = connect(harness, "a3", username: "alice", version: .v3_1_1)
        harness.publish(v5, "public/news", "x", qos: .atLeastOnce, packetIdentifier: 1)
        harness.publish(v5, "public/news", "x", qos: .exactlyOnce, packetIdentifier: 2)
        harness.publish(v3, "public/news", "x", qos: .atLeastOnce, packetIdentifier: 3)
        harness.publish(v5, "alice/x", "allowed", qos: .atLeastOnce, packetIdentifier: 4)
        #expect(acks(harness, v5).map(\.reasonCode) == [.notAuthorized, .notAuthorized, .success])
        #expect(acks(harness, v3).map(\.reasonCode) == [.success])
        #expect(harness.publishes(to: watcher).map(\.topic) == ["alice/x"])
    }

    @Test("no client may publish to $SYS, list or no list")
    func reservedTopics() {
        let harness = BrokerHarness()
        let (watcher, _) = harness.connect("watcher")
        harness.subscribe(watcher, "$SYS/#")
        let (client, _) = harness.connect("client")
        harness.publish(client, "$SYS/broker/uptime", "forged", qos: .atLeastOnce, retain: true)
        #expect(acks(harness, client).map(\.reasonCode) == [.notAuthorized])
        #expect(harness.publishes(to: watcher).isEmpty)
        harness.subscribe(watcher, "$SYS/#", packetIdentifier: 2)
        #expect(harness.publishes(to: watcher).isEmpty)  // nothing was retained either
    }

    @Test("SUBSCRIBE to a filter that can deliver nothing readable: 0x87 for MQTT 5, 0x80 for 3.1.1")
    func subscribeDenied() {
        let harness = BrokerHarness()
        let v5 = connect(harness, "a5", username: "alice")
        let v3 = connect(harness, "a3", username: "alice", version: .v3_1_1)
        for id in [v5, v3] {
            harness.send(.subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: [
                Subscription(topicFilter: "alice/#", options: SubscriptionOptions(qos: .atLeastOnce)),
                Subscription(topicFilter: "secret/#", options: SubscriptionOptions(qos: .atLeastOnce)),
                Subscription(topicFilter: "#", options: SubscriptionOptions(qos: .atMostOnce)),
            ])), from: id)
        }
        #expect(subackCodes(harness, v5) == [.grantedQoS1, .notAuthorized, .grantedQoS0])
        #expect(subackCodes(harness, v3) == [.grantedQoS1, .unspecifiedError, .grantedQoS0])
    }

    @Test("a wide subscription delivers only the topics the client may read, retained messages included")
    func deliveryFiltered() {
        let harness = BrokerHarness()
        let (publisher, _) = harness.connect("publisher")
        harness.publish(publisher, "shared/secret", "retained secret", retain: true)
        harness.publish(publisher, "shared/open", "retained open", retain: true)
        let alice = connect(harness, "a", username: "alice")
        harness.subscribe(alice, "#")
        #expect(harness.publishes(to: alice).map(\.payloadString) == ["retained open"])
        harness.clear()
        harness.publish(publisher, "shared/secret", "live secret")
        harness.publish(publisher, "elsewhere", "live elsewhere")
        harness.publish(publisher, "clients/a/inbox", "for a")
        harness.publish(publisher, "shared/open", "live open")
        #expect(harness.publishes(to: alice).map(\.payloadString) == ["for a", "live open"])
    }

    @Test("anonymous clients get the rules before any user line; patterns need a user name for %u")
    func anonymousRules() {
        let harness = BrokerHarness()
        let (publisher, _) = harness.connect("publisher")
        let anonymous = connect(harness, "anon", username: nil)
        harness.subscribe(anonymous, "#")
        harness.publish(publisher, "public/news", "news")
        harness.publish(publisher, "alice/x", "private")
        harness.publish(publisher, "clients/anon/x", "own")
        #expect(harness.publishes(to: anonymous).map(\.payloadString) == ["news", "own"])
    }

    @Test("a will goes out only if its client may publish to the will topic, and only to readers")
    func wills() {
        let harness = BrokerHarness()
        let (watcher, _) = harness.connect("watcher")
        harness.subscribe(watcher, "#")
        let allowed = connect(harness, "w1", username: "alice",
                              will: LastWill(topic: "wills/alice", payload: ByteBuffer(string: "gone")))
        let denied = connect(harness, "w2", username: "alice",
                             will: LastWill(topic: "public/x", payload: ByteBuffer(string: "forged")))
        let reader = connect(harness, "r", username: "alice")
        harness.subscribe(reader, "#")
        harness.dropConnection(allowed)
        harness.dropConnection(denied)
        #expect(harness.publishes(to: watcher).map(\.payloadString) == ["gone"])
        #expect(harness.publishes(to: reader).isEmpty)  // alice may write wills/alice, not read it
    }

    @Test("reauthorize: new rules for clients that stay, a DISCONNECT 0x87 for those refused")
    func reauthorize() throws {
        let harness = BrokerHarness()
        let (publisher, _) = harness.connect("publisher")
        let alice = connect(harness, "a", username: "alice")
        let bob = connect(harness, "b", username: "bob")
        harness.subscribe(alice, "#")
        let widened = try AccessControlList(parsing: "user alice\ntopic read #\n", path: "acl")
        harness.broker.reauthorize(now: harness.now, output: &harness.output) { _, _, username in
            switch username {
            case "alice": .accepted(username: username, accessControl: widened)
            case nil: .accepted(username: nil)  // the publisher
            default: .refused(.notAuthorized)
            }
        }
        #expect(harness.packets(to: bob).last == .disconnect(DisconnectPacket(reasonCode: .notAuthorized)))
        #expect(harness.isClosed(bob))
        #expect(!harness.isClosed(alice))
        harness.publish(publisher, "anything", "now readable")
        #expect(harness.publishes(to: alice).map(\.payloadString) == ["now readable"])
    }
}
