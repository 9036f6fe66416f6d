import Foundation
import MQTTClient
import MQTTCore
import NIOCore
import TernBroker
import Testing

/// The client against real brokers: Debian's mosquitto and an in-process Tern, as witnesses of each other.
@Suite("MQTTClient against mosquitto and Tern", .serialized)
struct ClientIntegrationTests {
    static let brokers = TestBroker.Kind.allCases
    static let versions: [ProtocolVersion] = [.v3_1_1, .v5]

    @Test("QoS 0, 1 and 2 in both directions", arguments: brokers, versions)
    func roundTrip(kind: TestBroker.Kind, version: ProtocolVersion) async throws {
        let broker = try await TestBroker.start(kind)
        defer { broker.stopNow() }
        let subscriber = MQTTClient(configuration: broker.configuration(version, clientIdentifier: "sub-\(version)"))
        let publisher = MQTTClient(configuration: broker.configuration(version, clientIdentifier: "pub-\(version)"))
        try await subscriber.connect()
        try await publisher.connect()
        let subscription = try await subscriber.subscribe(to: [
            Subscription(topicFilter: "rt/+/q0", qos: .atMostOnce),
            Subscription(topicFilter: "rt/+/q1", qos: .atLeastOnce),
            Subscription(topicFilter: "rt/+/q2", qos: .exactlyOnce),
        ])
        #expect(subscription.reasonCodes == [.grantedQoS0, .grantedQoS1, .grantedQoS2])
        let collector = MessageCollector(subscription)
        for qos in QoS.allCases {
            let result = try await publisher.publish(to: "rt/a/q\(qos.rawValue)", payload: "m\(qos.rawValue)", qos: qos)
            #expect(result.reasonCode.isSuccess)
        }
        let messages = try await collector.wait(for: 3)
        #expect(messages.map(\.topic) == ["rt/a/q0", "rt/a/q1", "rt/a/q2"])
        #expect(messages.map(\.payloadString) == ["m0", "m1", "m2"])
        #expect(messages.map(\.qos) == [.atMostOnce, .atLeastOnce, .exactlyOnce])
        try await subscriber.disconnect()
        try await publisher.disconnect()
        _ = try await eventually { collector.ended }
        #expect(collector.ended)
        #expect(collector.error == nil)
    }

    @Test("MQTT 5 publish properties arrive as sent", arguments: brokers)
    func publishProperties(kind: TestBroker.Kind) async throws {
        let broker = try await TestBroker.start(kind)
        defer { broker.stopNow() }
        let client = MQTTClient(configuration: broker.configuration(.v5))
        try await client.connect()
        let collector = MessageCollector(try await client.subscribe(to: "props/#", qos: .atLeastOnce))
        var properties = Properties()
        properties.contentType = "text/plain"
        properties.responseTopic = "props/reply"
        properties.correlationData = ByteBuffer(bytes: [1, 2, 3])
        properties.payloadFormatIndicator = .utf8
        properties.messageExpiryInterval = 120
        properties.userProperties = [UserProperty("a", "1"), UserProperty("a", "2"), UserProperty("b", "3")]
        try await client.publish(to: "props/x", payload: "hello", qos: .atLeastOnce, properties: properties)
        let message = try #require(try await collector.wait(for: 1).first)
        #expect(message.properties.contentType == "text/plain")
        #expect(message.properties.responseTopic == "props/reply")
        #expect(message.properties.correlationData == ByteBuffer(bytes: [1, 2, 3]))
        #expect(message.properties.payloadFormatIndicator == .utf8)
        #expect((message.properties.messageExpiryInterval ?? 0) > 100)
        #expect(message.properties.userProperties == properties.userProperties)
        try await client.disconnect()
    }

    @Test("unsubscribe ends the stream and stops delivery", arguments: brokers, versions)
    func unsubscribe(kind: TestBroker.Kind, version: ProtocolVersion) async throws {
        let broker = try await TestBroker.start(kind)
        defer { broker.stopNow() }
        let client = MQTTClient(configuration: broker.configuration(version))
        try await client.connect()
        let subscription = try await client.subscribe(to: "u/1", qos: .atLeastOnce)
        let other = MessageCollector(try await client.subscribe(to: "u/#", qos: .atLeastOnce))
        let collector = MessageCollector(subscription)
        try await client.publish(to: "u/1", payload: "before", qos: .atLeastOnce)
        _ = try await collector.wait(for: 1)
        let codes = try await subscription.unsubscribe()
        #expect(codes == (version == .v5 ? [.success] : []))
        _ = try await eventually { collector.ended }
        #expect(collector.ended)
        try await client.publish(to: "u/1", payload: "after", qos: .atLeastOnce)
        #expect(try await other.wait(for: 2).map(\.payloadString) == ["before", "after"])
        #expect(collector.messages.map(\.payloadString) == ["before"])
        try await client.disconnect()
    }

    @Test("retained message and the Retain Handling option", arguments: brokers)
    func retained(kind: TestBroker.Kind) async throws {
        let broker = try await TestBroker.start(kind)
        defer { broker.stopNow() }
        let client = MQTTClient(configuration: broker.configuration(.v5))
        try await client.connect()
        try await client.publish(to: "ret/a", payload: "kept", qos: .atLeastOnce, retain: true)
        let first = MessageCollector(try await client.subscribe(to: "ret/#", qos: .atLeastOnce))
        let message = try #require(try await first.wait(for: 1).first)
        #expect(message.retain && message.payloadString == "kept")
        var options = SubscriptionOptions(qos: .atLeastOnce)
        options.retainHandling = .doNotSend
        let second = MessageCollector(try await client.subscribe(to: [Subscription(topicFilter: "ret/+", options: options)]))
        try await client.publish(to: "ret/b", payload: "live", qos: .atLeastOnce)
        #expect(try await second.wait(for: 1).map(\.payloadString) == ["live"])
        try await client.publish(to: "ret/a", payload: "", qos: .atLeastOnce, retain: true)
        try await client.disconnect()
    }

    @Test("the will is published when the client disconnects with reason 0x04", arguments: brokers)
    func will(kind: TestBroker.Kind) async throws {
        let broker = try await TestBroker.start(kind)
        defer { broker.stopNow() }
        let watcher = MQTTClient(configuration: broker.configuration(.v5))
        try await watcher.connect()
        let collector = MessageCollector(try await watcher.subscribe(to: "wills/#", qos: .atLeastOnce))
        var configuration = broker.configuration(.v5, clientIdentifier: "dying")
        configuration.will = LastWill(topic: "wills/dying", payload: ByteBuffer(string: "gone"), qos: .atLeastOnce)
        let dying = MQTTClient(configuration: configuration)
        try await dying.connect()
        try await dying.disconnect(reasonCode: .disconnectWithWillMessage)
        let messages = try await collector.wait(for: 1)
        #expect(messages.map(\.payloadString) == ["gone"])
        try await watcher.disconnect()
    }

    @Test("a normal disconnect publishes no will", arguments: brokers, versions)
    func noWill(kind: TestBroker.Kind, version: ProtocolVersion) async throws {
        let broker = try await TestBroker.start(kind)
        defer { broker.stopNow() }
        let watcher = MQTTClient(configuration: broker.configuration(version))
        try await watcher.connect()
        let collector = MessageCollector(try await watcher.subscribe(to: "wills/#", qos: .atLeastOnce))
        var configuration = broker.configuration(version, clientIdentifier: "polite")
        configuration.will = LastWill(topic: "wills/polite", payload: ByteBuffer(string: "gone"))
        let polite = MQTTClient(configuration: configuration)
        try await polite.connect()
        try await polite.disconnect()
        try await watcher.publish(to: "wills/marker", payload: "marker", qos: .atLeastOnce)
        #expect(try await collector.wait(for: 1).map(\.payloadString) == ["marker"])
        try await watcher.disconnect()
    }

    @Test("a connection to a closed port fails in plain words")
    func refusedPort() async throws {
        let port = try TestBroker.freePort()
        let client = MQTTClient(configuration: MQTTClientConfiguration(host: "127.0.0.1", port: port))
        do {
            try await client.connect()
            Issue.record("connected to a closed port")
        } catch let error as MQTTClientError {
            guard case .connectionClosed(let text) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(text.contains("refused"))
        }
    }

    @Test("keep alive: PINGREQ keeps an idle connection open past 1.5 keep alive periods", arguments: brokers)
    func keepAlive(kind: TestBroker.Kind) async throws {
        let broker = try await TestBroker.start(kind)
        defer { broker.stopNow() }
        var configuration = broker.configuration(.v5)
        configuration.keepAlive = 1
        let client = MQTTClient(configuration: configuration)
        try await client.connect()
        let collector = MessageCollector(try await client.subscribe(to: "ka", qos: .atLeastOnce))
        // Without PINGREQ the broker closes the connection after 1.5 s of silence.
        try await Task.sleep(for: .seconds(2.5))
        #expect(await client.isConnected)
        try await client.publish(to: "ka", payload: "alive", qos: .atLeastOnce)
        #expect(try await collector.wait(for: 1).map(\.payloadString) == ["alive"])
        try await client.disconnect()
    }

    @Test("Maximum Packet Size of the server: a larger PUBLISH is refused locally, the connection stays")
    func maximumPacketSize() async throws {
        for kind in TestBroker.Kind.allCases {
            var settings = BrokerSettings()
            settings.maximumPacketSize = 1000
            let broker = try await TestBroker.start(kind, settings: settings, mosquittoConfig: "max_packet_size 1000")
            let client = MQTTClient(configuration: broker.configuration(.v5))
            try await client.connect()
            let collector = MessageCollector(try await client.subscribe(to: "big/#", qos: .atLeastOnce))
            await #expect(throws: MQTTClientError.self) {
                try await client.publish(to: "big/1", payload: String(repeating: "x", count: 2000), qos: .atLeastOnce)
            }
            try await client.publish(to: "big/2", payload: "small", qos: .atLeastOnce)
            #expect(try await collector.wait(for: 1).map(\.topic) == ["big/2"], "\(kind)")
            try await client.disconnect()
            await broker.stop()
        }
    }

    @Test("Receive Maximum of the server: 50 concurrent QoS 1 and 2 publishes with a window of 2 all complete")
    func receiveMaximum() async throws {
        var settings = BrokerSettings()
        settings.receiveMaximum = 2
        let brokers = [
            try await TestBroker.tern(settings: settings),
            try await TestBroker.mosquitto(config: "max_inflight_messages 2"),
        ]
        for broker in brokers {
            let client = MQTTClient(configuration: broker.configuration(.v5))
            let result = try await client.connect()
            if broker.kind == .tern { #expect(result.properties.receiveMaximum == 2) }
            let collector = MessageCollector(try await client.subscribe(to: "rm/#", qos: .exactlyOnce))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<50 {
                    group.addTask {
                        try await client.publish(to: "rm/\(i)", payload: "\(i)", qos: i % 2 == 0 ? .atLeastOnce : .exactlyOnce)
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await collector.wait(for: 50).count == 50, "\(broker.kind)")
            try await client.disconnect()
            await broker.stop()
        }
    }

    @Test("username and password: refused with the right reason code, accepted with the right password",
          arguments: versions)
    func authentication(version: ProtocolVersion) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tern-auth-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        let passwd = Process()
        passwd.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_passwd")
        passwd.arguments = ["-c", "-b", directory.appendingPathComponent("passwd").path, "alice", "secret"]
        try passwd.run()
        passwd.waitUntilExit()
        try FileManager.default.setAttributes([.posixPermissions: 0o644],
                                              ofItemAtPath: directory.appendingPathComponent("passwd").path)
        let broker = try await TestBroker.mosquitto(
            config: "listener {port2} 127.0.0.1\nallow_anonymous false\npassword_file {dir}/passwd\n",
            directory: directory, listenerLine: false)
        defer { broker.stopNow() }
        var configuration = broker.configuration(version)
        configuration.username = "alice"
        configuration.password = ByteBuffer(string: "wrong")
        do {
            try await MQTTClient(configuration: configuration).connect()
            Issue.record("connected with a wrong password")
        } catch let error as MQTTClientError {
            // mosquitto answers a wrong password with "not authorized" (return code 5, reason code 0x87).
            #expect(error == .connectionRefused(.notAuthorized, reasonString: nil), "\(error)")
        }
        configuration.password = ByteBuffer(string: "secret")
        let client = MQTTClient(configuration: configuration)
        try await client.connect()
        try await client.disconnect()
    }
}
