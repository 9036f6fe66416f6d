import Foundation
import MQTTClient
import MQTTCore
import NIOCore
import NIOSSL
import Testing

/// TLS, mutual TLS, WebSocket and secure WebSocket against Debian's mosquitto, with a test CA made by openssl.
@Suite("MQTTClient transports against mosquitto", .serialized)
struct TransportTests {
    /// A CA, a server certificate for localhost/127.0.0.1 and a client certificate, in a new folder.
    static func makeCertificates() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tern-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        let extensions = "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        try extensions.write(to: directory.appendingPathComponent("san.ext"), atomically: true, encoding: .utf8)
        let steps = [
            "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=tern-test-ca",
            "req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost",
            "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext",
            "req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=tern-client",
            "x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2",
        ]
        for step in steps {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = step.split(separator: " ").map(String.init)
            process.currentDirectoryURL = directory
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw TestBrokerError("openssl \(step) failed") }
        }
        for name in ["ca.crt", "server.crt", "server.key", "client.crt", "client.key"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o644],
                                                  ofItemAtPath: directory.appendingPathComponent(name).path)
        }
        return directory
    }

    static func tls(_ directory: URL, clientCertificate: Bool) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(directory.appendingPathComponent("ca.crt").path)
        if clientCertificate {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(directory.appendingPathComponent("client.crt").path)
                .map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: directory.appendingPathComponent("client.key").path,
                                                              format: .pem))
        }
        return tls
    }

    /// Publishes and receives one QoS 1 message over `configuration`.
    static func roundTrip(_ configuration: MQTTClientConfiguration) async throws {
        let client = MQTTClient(configuration: configuration)
        try await client.connect()
        let collector = MessageCollector(try await client.subscribe(to: "transport/#", qos: .atLeastOnce))
        try await client.publish(to: "transport/x", payload: "over \(configuration.transport)", qos: .atLeastOnce)
        #expect(try await collector.wait(for: 1).map(\.payloadString) == ["over \(configuration.transport)"])
        try await client.disconnect()
    }

    @Test("TLS and mutual TLS", arguments: [false, true])
    func tls(mutual: Bool) async throws {
        let directory = try Self.makeCertificates()
        let broker = try await TestBroker.mosquitto(config: """
            listener {port2} 127.0.0.1
            cafile {dir}/ca.crt
            certfile {dir}/server.crt
            keyfile {dir}/server.key
            require_certificate \(mutual)
            """, directory: directory)
        defer { broker.stopNow() }
        var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: broker.secondPort, transport: .tls)
        configuration.tlsServerName = "localhost"
        configuration.tls = try Self.tls(directory, clientCertificate: mutual)
        try await Self.roundTrip(configuration)
        if mutual {
            configuration.tls = try Self.tls(directory, clientCertificate: false)
            await #expect(throws: MQTTClientError.self) { try await MQTTClient(configuration: configuration).connect() }
        }
    }

    @Test("TLS refuses a server its trust roots do not vouch for")
    func untrustedServer() async throws {
        let directory = try Self.makeCertificates()
        let broker = try await TestBroker.mosquitto(config: """
            listener {port2} 127.0.0.1
            certfile {dir}/server.crt
            keyfile {dir}/server.key
            """, directory: directory)
        defer { broker.stopNow() }
        var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: broker.secondPort, transport: .tls)
        configuration.tlsServerName = "localhost"
        configuration.connectTimeout = .seconds(5)
        do {
            try await MQTTClient(configuration: configuration).connect()
            Issue.record("connected to an untrusted server")
        } catch let error as MQTTClientError {
            #expect("\(error)".contains("TLS"), "\(error)")
        }
    }

    @Test("WebSocket (ws) and secure WebSocket (wss)", arguments: [false, true])
    func webSocket(secure: Bool) async throws {
        let directory = try Self.makeCertificates()
        let tlsLines = secure ? "cafile {dir}/ca.crt\ncertfile {dir}/server.crt\nkeyfile {dir}/server.key\n" : ""
        let broker = try await TestBroker.mosquitto(config: """
            listener {port2} 127.0.0.1
            protocol websockets
            \(tlsLines)
            """, directory: directory)
        defer { broker.stopNow() }
        var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: broker.secondPort,
                                                    transport: secure ? .secureWebSocket : .webSocket)
        configuration.tlsServerName = "localhost"
        configuration.tls = try Self.tls(directory, clientCertificate: false)
        for version in [ProtocolVersion.v3_1_1, .v5] {
            configuration.protocolVersion = version
            try await Self.roundTrip(configuration)
        }
    }

    @Test("a large message crosses the WebSocket transport in several frames")
    func largeWebSocketMessage() async throws {
        let broker = try await TestBroker.mosquitto(config: "listener {port2} 127.0.0.1\nprotocol websockets\n")
        defer { broker.stopNow() }
        let configuration = MQTTClientConfiguration(host: "127.0.0.1", port: broker.secondPort, transport: .webSocket)
        let client = MQTTClient(configuration: configuration)
        try await client.connect()
        let collector = MessageCollector(try await client.subscribe(to: "big", qos: .atLeastOnce))
        let payload = String(repeating: "0123456789", count: 10_000)
        try await client.publish(to: "big", payload: payload, qos: .atLeastOnce)
        #expect(try await collector.wait(for: 1).first?.payload.readableBytes == payload.utf8.count)
        try await client.disconnect()
    }
}
