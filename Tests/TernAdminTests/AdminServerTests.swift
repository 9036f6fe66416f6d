import Foundation
import Logging
import Testing
import TernBroker
import TernServer

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@testable import TernAdmin

/// The HTTP listener in process, next to a real `MQTTServer`: what the interop tests cannot easily reach.
@Suite struct AdminServerTests {
    private func get(_ port: Int, _ path: String) async throws -> (Int, Data) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        return ((response as! HTTPURLResponse).statusCode, data)
    }

    @Test func readyAnswers503WithTheFailingCheck() async throws {
        let logger = Logger(label: "test")
        let mqtt = MQTTServer(settings: BrokerSettings(), logger: logger)
        _ = try await mqtt.start(listeners: [.init(host: "127.0.0.1", port: 0)])
        let settings = BrokerConfiguration.HTTPSettings(port: 0, address: "127.0.0.1")
        let admin = try AdminServer(
            settings: settings, policy: try AdminAccessPolicy(settings: settings, passwordFile: nil), mqtt: mqtt,
            metrics: MetricsExporter(), readiness: { ["listeners": true, "store": false] }, reload: { nil },
            logger: logger)
        let port = try #require(try await admin.start().port)
        let (status, body) = try await get(port, "/ready")
        #expect(status == 503)
        let document = try JSONSerialization.jsonObject(with: body) as? [String: Any]
        #expect(document?["status"] as? String == "not ready")
        #expect((document?["checks"] as? [String: Bool]) == ["listeners": true, "store": false])
        #expect(try await get(port, "/health").0 == 200)
        await admin.stop()
        try await mqtt.shutdown()
    }
}
