import MQTTClient
import MQTTCore
import NIOCore
import Testing

/// The usage example of docs/client.md, kept compiling and true by running it against an in-process Tern.
@Suite("docs/client.md example")
struct DocumentationExampleTests {
    // --- begin docs/client.md example ---
    static func example(port: Int) async throws -> [String] {
        var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: port, protocolVersion: .v5,
                                                    clientIdentifier: "thermostat")
        configuration.will = LastWill(topic: "home/thermostat/status", payload: ByteBuffer(string: "offline"),
                                      qos: .atLeastOnce, retain: true)
        configuration.reconnection = .init()  // reconnect with back-off, subscribe again
        let client = MQTTClient(configuration: configuration)
        try await client.connect()

        let setpoints = try await client.subscribe(to: "home/+/setpoint", qos: .atLeastOnce)
        var properties = Properties()
        properties.contentType = "text/plain"
        properties.userProperties = [UserProperty("unit", "celsius")]
        let result = try await client.publish(to: "home/livingroom/setpoint", payload: "21.5", qos: .exactlyOnce,
                                              properties: properties)
        precondition(result.reasonCode.isSuccess)

        var received: [String] = []
        for try await message in setpoints {
            received.append("\(message.topic) \(message.payloadString)")
            break
        }
        try await client.disconnect()
        return received
    }
    // --- end docs/client.md example ---

    @Test func exampleRuns() async throws {
        let broker = try await TestBroker.tern()
        defer { broker.stopNow() }
        #expect(try await Self.example(port: broker.port) == ["home/livingroom/setpoint 21.5"])
    }
}
