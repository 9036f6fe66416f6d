import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL
import NIOWebSocket
import TernBroker

/// What sits between a listener's sockets and MQTT: TLS, the WebSocket upgrade and framing, and the limit on
/// connections. Shared by the sockets of one configured listener (IPv4 and IPv6), so the limit counts both.
public final class ListenerTransport: Sendable {
    /// TLS for every connection (certificates reloadable); nil for plain TCP.
    public let tls: ServerTLSContext?
    /// MQTT over WebSocket (over TLS when `tls` is set); nil for MQTT straight on the stream.
    public let webSocket: WebSocketSettings?
    /// The most connections open at once; nil for no limit.
    public let maxConnections: Int?
    private let open = NIOLockedValueBox(0)

    public init(tls: ServerTLSContext? = nil, webSocket: WebSocketSettings? = nil, maxConnections: Int? = nil) {
        self.tls = tls
        self.webSocket = webSocket
        self.maxConnections = maxConnections
    }

    /// The transport a configured listener asks for; reads its TLS files and resolves its `http_dir`.
    /// - Returns: the transport and warnings about settings without effect.
    /// - Throws: `TLSSetupError`, or `HTTPDirectoryError` for an `http_dir` that is not a directory.
    public static func load(_ listener: BrokerConfiguration.Listener, settings: BrokerSettings)
        throws -> (transport: ListenerTransport, warnings: [String])
    {
        var tls: ServerTLSContext?
        var warnings: [String] = []
        if let settings = listener.tls {
            (tls, warnings) = try ServerTLSContext.load(settings)
        }
        if listener.transport != .websockets && listener.httpDirectory != nil {
            warnings.append("http_dir ignored: files are served by websockets listeners only")
        }
        // A frame carries at most a whole packet, plus room for a few packets to share it.
        let webSocket = listener.transport == .websockets
            ? WebSocketSettings(allowedOrigins: listener.allowedOrigins,
                                maximumFrameSize: max(settings.maximumPacketSize, 1 << 16) &+ (1 << 16),
                                upgradeTimeout: .seconds(settings.connectTimeout),
                                httpDirectory: try listener.httpDirectory.map { path throws(HTTPDirectoryError) in
                                    try HTTPDirectory(path: path)
                                })
            : nil
        return (ListenerTransport(tls: tls, webSocket: webSocket, maxConnections: listener.maxConnections), warnings)
    }

    /// Sets up an accepted connection's pipeline, ending in the handler `makeHandler` makes (on the channel's event
    /// loop; for WebSocket, once the upgrade is done). A connection over the limit is closed at once.
    func configure(_ channel: Channel, logger: Logger,
                   makeHandler: @escaping @Sendable () -> any ChannelHandler) throws
    {
        if let maxConnections {
            let admitted = open.withLockedValue { count in
                guard count < maxConnections else { return false }
                count += 1
                return true
            }
            guard admitted else {
                logger.notice("""
                    connection from \(channel.remoteAddress.map(MQTTServer.display) ?? "?") refused: the listener \
                    has its max_connections (\(maxConnections)) open
                    """)
                channel.close(promise: nil)
                return
            }
            channel.closeFuture.whenComplete { [open] _ in open.withLockedValue { $0 -= 1 } }
        }
        let pipeline = channel.pipeline.syncOperations
        if let tls {
            try pipeline.addHandler(NIOSSLServerHandler(context: tls.context))
        }
        guard let webSocket else {
            try pipeline.addHandler(makeHandler())
            return
        }
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: webSocket.maximumFrameSize, automaticErrorHandling: true,
            shouldUpgrade: { channel, request in
                guard webSocket.allows(request.headers),
                      case .success(let subprotocol) = webSocket.subprotocol(for: request.headers)
                else { return channel.eventLoop.makeSucceededFuture(nil) }
                var headers = HTTPHeaders()
                if let subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
                return channel.eventLoop.makeSucceededFuture(headers)
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    pipeline.removeHandler(context: try pipeline.context(name: Self.plainHTTPName), promise: nil)
                    try pipeline.addHandler(WebSocketStreamHandler())
                    try pipeline.addHandler(makeHandler())
                }
            })
        try pipeline.configureHTTPServerPipeline(
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
        try pipeline.addHandler(PlainHTTPResponder(settings: webSocket), name: Self.plainHTTPName)
    }

    private static let plainHTTPName = "PlainHTTPResponder"

    /// BoringSSL's reasons in a TLS error (`CERTIFICATE_VERIFY_FAILED`), without its codes and source paths.
    static func tlsFailureReason(_ error: Error) -> String {
        let text = "\(error)"
        let reasons = text.split(separator: "OPENSSL_internal:").dropFirst().map { part in
            part.prefix { $0 != " " && $0 != "]" && $0 != ")" }
        }
        return reasons.isEmpty ? text : reasons.joined(separator: ", ")
    }

    /// The verified certificate a client presented, when the connection is over TLS; call on the channel's loop.
    static func clientCertificate(of channel: Channel) -> ClientCertificateIdentity? {
        guard let certificate = try? channel.pipeline.syncOperations.nioSSL_peerCertificate() else { return nil }
        return ClientCertificateIdentity(certificate: certificate)
    }
}

extension ListenerTransport {
    /// How the listener is announced in the log after its address: " (WebSocket over TLS)".
    var summary: String {
        var parts: [String] = []
        switch (webSocket != nil, tls != nil) {
        case (true, true): parts.append("MQTT over secure WebSocket")
        case (true, false): parts.append("MQTT over WebSocket")
        case (false, true): parts.append("MQTT over TLS")
        case (false, false): break
        }
        if let maxConnections { parts.append("at most \(maxConnections) connections") }
        return parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))"
    }
}
