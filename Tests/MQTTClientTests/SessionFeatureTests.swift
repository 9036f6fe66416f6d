import Foundation
import MQTTClient
import MQTTCore
import NIOCore
import Testing

/// Reconnection, request/response and topic aliases against real brokers.
@Suite("MQTTClient sessions, reconnection and request/response", .serialized)
struct SessionFeatureTests {
    @Test("automatic reconnection after the broker restarts, with the subscriptions made again")
    func reconnects() async throws {
        let broker = try await TestBroker.mosquitto()
        defer { broker.stopNow() }
        var configuration = broker.configuration(.v5, clientIdentifier: "reconnecting")
        configuration.reconnection = .init(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(400))
        let client = MQTTClient(configuration: configuration)
        try await client.connect()
        let collector = MessageCollector(try await client.subscribe(to: "rc/#", qos: .atLeastOnce))
        try await broker.restart()
        #expect(try await eventually(within: 30) { await client.isConnected })
        let publisher = MQTTClient(configuration: broker.configuration(.v3_1_1, clientIdentifier: "rc-pub"))
        try await publisher.connect()
        // The re-subscription may still be on its way: publish until it arrives.
        _ = try await eventually(within: 30) {
            try await publisher.publish(to: "rc/x", payload: "after restart", qos: .atLeastOnce)
            return !collector.messages.isEmpty
        }
        #expect(collector.messages.first?.payloadString == "after restart")
        #expect(!collector.ended)
        try await publisher.disconnect()
        try await client.disconnect()
    }

    @Test("a QoS 1 publish made while the broker is down completes after the reconnection")
    func publishWhileDown() async throws {
        let broker = try await TestBroker.mosquitto()
        defer { broker.stopNow() }
        var configuration = broker.configuration(.v3_1_1, clientIdentifier: "queued")
        configuration.reconnection = .init(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(200))
        let client = MQTTClient(configuration: configuration)
        try await client.connect()
        try await broker.restart()
        let result = try await client.publish(to: "queued/x", payload: "late", qos: .atLeastOnce, retain: true)
        #expect(result.reasonCode == .success)
        let reader = MQTTClient(configuration: broker.configuration(.v5))
        try await reader.connect()
        let collector = MessageCollector(try await reader.subscribe(to: "queued/x", qos: .atLeastOnce))
        #expect(try await collector.wait(for: 1).first?.payloadString == "late")
        try await reader.disconnect()
        try await client.disconnect()
    }

    @Test("request/response with Response Topic and Correlation Data", arguments: TestBroker.Kind.allCases)
    func requestResponse(kind: TestBroker.Kind) async throws {
        let broker = try await TestBroker.start(kind)
        defer { broker.stopNow() }
        let responder = MQTTClient(configuration: broker.configuration(.v5))
        try await responder.connect()
        let requests = try await responder.subscribe(to: "service/echo", qos: .atLeastOnce)
        let serving = Task {
            for try await request in requests {
                try await responder.respond(to: request, payload: ByteBuffer(string: "echo: " + request.payloadString))
            }
        }
        let requester = MQTTClient(configuration: broker.configuration(.v5))
        try await requester.connect()
        let response = try await requester.request(topic: "service/echo", payload: ByteBuffer(string: "ping"))
        #expect(response.payloadString == "echo: ping")
        await #expect(throws: MQTTClientError.timeout) {
            try await requester.request(topic: "service/nobody", payload: ByteBuffer(), timeout: .milliseconds(300))
        }
        serving.cancel()
        try await requester.disconnect()
        try await responder.disconnect()
    }

    @Test("topic aliases towards the broker: repeated topics still arrive whole", arguments: TestBroker.Kind.allCases)
    func topicAliases(kind: TestBroker.Kind) async throws {
        let broker = try await TestBroker.start(kind)
        defer { broker.stopNow() }
        var configuration = broker.configuration(.v5)
        configuration.sendsTopicAliases = true
        let client = MQTTClient(configuration: configuration)
        let result = try await client.connect()
        #expect((result.properties.topicAliasMaximum ?? 0) > 0)
        let collector = MessageCollector(try await client.subscribe(to: "alias/#", qos: .atLeastOnce))
        for i in 0..<5 {
            try await client.publish(to: "alias/\(i % 2)", payload: "\(i)", qos: .atLeastOnce)
        }
        let messages = try await collector.wait(for: 5)
        #expect(messages.map(\.topic) == ["alias/0", "alias/1", "alias/0", "alias/1", "alias/0"])
        try await client.disconnect()
    }
}
