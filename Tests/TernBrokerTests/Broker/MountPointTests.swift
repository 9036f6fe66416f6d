import MQTTCore
import NIOCore
import Testing
@testable import TernBroker

/// A listener's mount point (Mosquitto's `mount_point`): its clients' topics and filters live under the prefix,
/// and they see their topics without it.
@Suite("Mount points")
struct MountPointTests {
    static let tenant = ListenerProtocolLimits(mountPoint: try! MountPoint("tenant/"))

    @Test("a mounted client's PUBLISH lands under the prefix; it sees its topics without it")
    func publishAndDeliver() {
        let harness = BrokerHarness()
        let (outsider, _) = harness.connect("outsider")
        harness.subscribe(outsider, "#")
        let (mounted, _) = harness.connect("mounted", protocolLimits: Self.tenant)
        harness.subscribe(mounted, "#", qos: .atLeastOnce)
        harness.publish(mounted, "a/b", "inside", qos: .atLeastOnce)
        #expect(harness.publishes(to: outsider).map(\.topic) == ["tenant/a/b"])
        #expect(harness.publishes(to: mounted).map(\.topic) == ["a/b"])
        // Published from outside: only what is under the prefix reaches the mounted client.
        harness.publish(outsider, "tenant/c", "under")
        harness.publish(outsider, "elsewhere/c", "outside")
        #expect(harness.publishes(to: mounted).map(\.topic) == ["a/b", "c"])
        #expect(harness.publishes(to: outsider).map(\.topic) == ["tenant/a/b", "tenant/c", "elsewhere/c"])
    }

    @Test("retained messages, wills, UNSUBSCRIBE and shared subscriptions are mounted too")
    func everyTopicTheClientNames() throws {
        let harness = BrokerHarness()
        let (outsider, _) = harness.connect("outsider")
        harness.publish(outsider, "tenant/r", "kept", retain: true)
        harness.subscribe(outsider, "tenant/w")
        let will = LastWill(topic: "w", payload: ByteBuffer(string: "gone"))
        let (mounted, _) = harness.connect("mounted", will: will, protocolLimits: Self.tenant)
        harness.subscribe(mounted, "r")
        #expect(harness.publishes(to: mounted).map { "\($0.topic) \($0.retain)" } == ["r true"])
        harness.send(.unsubscribe(UnsubscribePacket(packetIdentifier: 2, topicFilters: ["r"])), from: mounted)
        #expect(harness.packets(to: mounted).last == .unsuback(UnsubAckPacket(packetIdentifier: 2,
                                                                               reasonCodes: [.success])))
        // A shared subscription shares within the mount point: the share name stays in front.
        harness.subscribe(mounted, "$share/g/s/#")
        let (member, _) = harness.connect("member")
        harness.subscribe(member, "$share/g/tenant/s/#")
        for index in 0..<4 { harness.publish(outsider, "tenant/s/\(index)", "\(index)") }
        #expect(harness.publishes(to: mounted).filter { $0.topic.hasPrefix("s/") }.count == 2)
        #expect(harness.publishes(to: member).count == 2)
        harness.dropConnection(mounted)
        #expect(harness.publishes(to: outsider).map(\.topic) == ["tenant/w"])
    }

    @Test("access rules see the whole topic")
    func accessRulesSeeTheWholeTopic() throws {
        let harness = BrokerHarness()
        let list = try AccessControlList(parsing: "topic readwrite tenant/allowed/#\n", path: "acl")
        let id = harness.open(requiresAuthentication: true, protocolLimits: Self.tenant)
        harness.send(.connect(ConnectPacket(protocolVersion: .v5, cleanStart: true, keepAlive: 0,
                                            clientIdentifier: "mounted")), from: id)
        harness.broker.authenticationCompleted(id, result: .accepted(username: nil, accessControl: list),
                                               now: harness.now, output: &harness.output)
        harness.subscribe(id, "allowed/#", qos: .atLeastOnce)
        harness.subscribe(id, "tenant/allowed/#", qos: .atLeastOnce, packetIdentifier: 2)
        let subacks: [[ReasonCode]] = harness.packets(to: id).compactMap {
            if case .suback(let suback) = $0 { suback.reasonCodes } else { nil }
        }
        #expect(subacks == [[.grantedQoS1], [.notAuthorized]])
        harness.publish(id, "allowed/x", "yes", qos: .atLeastOnce, packetIdentifier: 3)
        harness.publish(id, "x", "no", qos: .atLeastOnce, packetIdentifier: 4)
        #expect(harness.publishes(to: id).map(\.topic) == ["allowed/x"])
        let pubacks: [ReasonCode] = harness.packets(to: id).compactMap {
            if case .puback(let ack) = $0 { ack.reasonCode } else { nil }
        }
        #expect(pubacks == [.success, .notAuthorized])
    }

    @Test("a session resumed through a mount point gets nothing from outside it")
    func resumedElsewhere() {
        let harness = BrokerHarness()
        let expiry: Properties = [.sessionExpiryInterval(600)]
        let (plain, _) = harness.connect("roamer", properties: expiry)
        harness.subscribe(plain, "other/#", qos: .atLeastOnce)
        harness.dropConnection(plain)
        let (publisher, _) = harness.connect("publisher")
        harness.publish(publisher, "other/x", "queued", qos: .atLeastOnce)
        let (mounted, connack) = harness.connect("roamer", cleanStart: false, properties: expiry,
                                                 protocolLimits: Self.tenant)
        #expect(connack?.sessionPresent == true)
        #expect(harness.publishes(to: mounted).isEmpty)
        #expect(harness.broker.statistics.drops[.notAuthorized] == 1)
    }

    @Test("invalid filters stay invalid; a prefix with a wildcard is refused")
    func invalidFilters() throws {
        let mount = try MountPoint("tenant/")
        #expect(mount.filter("") == "")
        #expect(mount.filter("$share/g/") == "$share/g/")
        #expect(mount.filter("$share//a") == "$share//a")
        #expect(mount.filter("a/#/b") == "tenant/a/#/b")
        #expect(mount.filter("$SYS/#") == "tenant/$SYS/#")
        #expect(mount.filter("$share/g/+/x") == "$share/g/tenant/+/x")
        #expect(throws: TopicError.wildcardInTopicName) { try MountPoint("tenant/+/") }
        #expect(throws: TopicError.wildcardInTopicName) { try MountPoint("#") }
        #expect(mount.bytesToDrop(from: "tenant/ä") == 7)
        #expect(mount.bytesToDrop(from: "tenants/a") == nil)
    }
}
