import MQTTClient
import MQTTCore
import NIOSSL

/// How `tern pub`, `tern sub` and `tern bench` reach the broker: host, port, transport and TLS files, turned into
/// an ``MQTTClientConfiguration`` the same way for all three.
struct TransportOptions {
    var host = "localhost"
    var port: Int?
    var transport = MQTTClientConfiguration.Transport.tcp
    var webSocketPath = "/mqtt"
    var caFile: String?
    var certFile: String?
    var keyFile: String?
    var insecure = false

    /// A configuration with the transport, address and TLS settings; as with Mosquitto's tools, a CA file, a
    /// client certificate, `--insecure` or port 8883 switch TCP to TLS (and `ws` to `wss`).
    func configuration(protocolVersion: ProtocolVersion) throws -> MQTTClientConfiguration {
        var configuration = MQTTClientConfiguration(
            host: host == "localhost" ? "127.0.0.1" : host, port: port, transport: transport,
            protocolVersion: protocolVersion)
        if caFile != nil || certFile != nil || insecure || port == 8883 {
            if transport == .tcp { configuration.transport = .tls }
            if transport == .webSocket { configuration.transport = .secureWebSocket }
            if port == nil { configuration.port = configuration.transport.defaultPort }
        }
        configuration.webSocketPath = webSocketPath
        configuration.tlsServerName = host
        if configuration.transport.usesTLS {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let caFile { tls.trustRoots = .file(caFile) }
            if let certFile, let keyFile {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certFile).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            }
            if insecure { tls.certificateVerification = .noHostnameVerification }
            configuration.tls = tls
        }
        return configuration
    }
}
