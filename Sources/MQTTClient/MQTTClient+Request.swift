import MQTTCore
import NIOCore

extension MQTTClient {
    /// MQTT 5.0 request/response: subscribes to a fresh response topic, publishes the request with that Response
    /// Topic and a random Correlation Data, and returns the first message on the response topic carrying the same
    /// Correlation Data. The response topic starts with the server's Response Information when it gave one
    /// (see ``MQTTClientConfiguration/requestResponseInformation``), else with `tern/responses`.
    ///
    /// Throws ``MQTTClientError/timeout`` when no response arrives within `timeout`.
    public func request(topic: String, payload: ByteBuffer, qos: QoS = .atLeastOnce, properties: Properties = [],
                        timeout: Duration = .seconds(10)) async throws -> MQTTMessage
    {
        guard configuration.protocolVersion.hasProperties else {
            throw MQTTClientError.invalidArgument(.protocolError, "request/response needs MQTT 5.0")
        }
        let base = await serverProperties.responseInformation ?? "tern/responses"
        let correlation = (0..<16).map { _ in UInt8.random(in: 0...255) }
        let token = correlation.map { String($0, radix: 16) }.joined()
        let responseTopic = "\(base)/\(token)"
        let subscription = try await subscribe(to: responseTopic, qos: qos)
        var properties = properties
        properties.responseTopic = responseTopic
        properties.correlationData = ByteBuffer(bytes: correlation)
        let expected = properties.correlationData
        do {
            try await publish(to: topic, payload: payload, qos: qos, properties: properties)
            let response = try await withThrowingTaskGroup(of: MQTTMessage?.self) { group in
                group.addTask {
                    for try await message in subscription where message.properties.correlationData == expected {
                        return message
                    }
                    return nil
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            _ = try? await subscription.unsubscribe()
            guard let response else { throw MQTTClientError.timeout }
            return response
        } catch {
            _ = try? await subscription.unsubscribe()
            throw error
        }
    }

    /// Answers a request received with ``request(topic:payload:qos:properties:timeout:)`` (or any MQTT 5.0 request):
    /// publishes `payload` to its Response Topic with its Correlation Data. Does nothing for a message without a
    /// Response Topic and returns nil.
    @discardableResult
    public func respond(to request: MQTTMessage, payload: ByteBuffer, qos: QoS = .atLeastOnce,
                        properties: Properties = []) async throws -> MQTTPublishResult?
    {
        guard let responseTopic = request.properties.responseTopic else { return nil }
        var properties = properties
        properties.correlationData = request.properties.correlationData
        return try await publish(to: responseTopic, payload: payload, qos: qos, properties: properties)
    }
}
