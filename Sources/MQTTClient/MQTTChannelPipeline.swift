import NIOCore
import NIOHTTP1
import NIOSSL
import NIOWebSocket

/// Builds a client channel's pipeline for the configured transport: TLS when asked, then either the MQTT
/// handler directly or an HTTP upgrade to WebSocket (subprotocol `mqtt`) followed by a frame bridge.
///
/// Tools that speak MQTT on their own handler (such as `tern bench`) use it to get the same transports as
/// ``MQTTClient``: their handler reads and writes MQTT bytes as `ByteBuffer`s whatever the transport. Behind a
/// WebSocket upgrade the handler is added to an already active channel, so it must start in `handlerAdded` when
/// the channel is active, not only in `channelActive`.
public enum MQTTChannelPipeline {
    /// Adds the transport's handlers and then `handler` to `channel`'s pipeline; call it in the channel
    /// initializer. `upgradeFailed` is called on the channel's event loop when the WebSocket upgrade fails.
    public static func configure(_ channel: any Channel, configuration: MQTTClientConfiguration,
                                 handler: any ChannelHandler,
                                 upgradeFailed: @escaping (MQTTClientError) -> Void = { _ in }) throws
    {
        let pipeline = channel.pipeline.syncOperations
        if configuration.transport.usesTLS {
            let context = try NIOSSLContext(configuration: configuration.tls)
            let name = configuration.tlsServerName ?? configuration.host
            // SNI carries host names only, never IP addresses.
            let sniName = name.isIPAddress ? nil : name
            let tlsHandler = try NIOSSLClientHandler(context: context, serverHostname: sniName)
            try pipeline.addHandler(tlsHandler)
        }
        switch configuration.transport {
        case .tcp, .tls:
            try pipeline.addHandler(handler)
        case .webSocket, .secureWebSocket:
            let loopBoundHandler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
            let upgrader = NIOWebSocketClientUpgrader(
                maxFrameSize: min(configuration.maximumPacketSize, 1 << 26),
                automaticErrorHandling: true,
                upgradePipelineHandler: { channel, _ in
                    channel.pipeline.removeHandler(name: WebSocketUpgradeRequest.name).flatMapThrowing {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(WebSocketStreamBridge())
                        try sync.addHandler(loopBoundHandler.value)
                    }
                })
            var headers = HTTPHeaders()
            let port = configuration.port == configuration.transport.defaultPort ? "" : ":\(configuration.port)"
            headers.add(name: "Host", value: configuration.host + port)
            headers.add(name: "Sec-WebSocket-Protocol", value: "mqtt")
            headers.add(name: "Content-Length", value: "0")
            let request = WebSocketUpgradeRequest(path: configuration.webSocketPath, headers: headers,
                                                  configuration: configuration, failed: upgradeFailed)
            try pipeline.addHTTPClientHandlers(
                leftOverBytesStrategy: .forwardBytes,
                withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
            try pipeline.addHandler(request, name: WebSocketUpgradeRequest.name)
        }
    }
}

/// Sends the HTTP request that asks for the WebSocket upgrade, and reports a refused upgrade as an error.
final class WebSocketUpgradeRequest: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart
    static let name = "mqtt-websocket-upgrade-request"

    private let path: String
    private let headers: HTTPHeaders
    private let configuration: MQTTClientConfiguration
    private let failed: (MQTTClientError) -> Void
    private var reported = false

    init(path: String, headers: HTTPHeaders, configuration: MQTTClientConfiguration,
         failed: @escaping (MQTTClientError) -> Void)
    {
        self.path = path
        self.headers = headers
        self.configuration = configuration
        self.failed = failed
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        report(.connectionClosed(MQTTClientSession.describe(error, configuration: configuration)))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        report(.connectionClosed("the server closed the connection during the WebSocket upgrade"))
        context.fireChannelInactive()
    }

    private func report(_ error: MQTTClientError) {
        guard !reported else { return }
        reported = true
        failed(error)
    }

    func channelActive(context: ChannelHandlerContext) {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { channelActive(context: context) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Only a response that did not upgrade gets here.
        if case .head(let head) = unwrapInboundIn(data) {
            errorCaught(context: context, error: WebSocketUpgradeRefused(status: head.status))
        }
    }
}

/// The server answered the WebSocket upgrade request with something other than 101.
struct WebSocketUpgradeRefused: Error, CustomStringConvertible {
    var status: HTTPResponseStatus
    var description: String { "the server refused the WebSocket upgrade: HTTP \(status.code) \(status.reasonPhrase)" }
}

/// Turns WebSocket frames into the byte stream MQTT expects and back: binary (and continuation) frames carry
/// MQTT bytes [MQTT-6.0.0-1]; pings are answered; a close frame ends the connection.
final class WebSocketStreamBridge: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation, .text:
            context.fireChannelRead(wrapInboundOut(frame.unmaskedData))
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            context.close(promise: nil)
        default:
            break
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        let frame = WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: bytes)
        context.write(wrapOutboundOut(frame), promise: promise)
    }
}

extension String {
    /// True for an IPv4 or IPv6 address literal.
    var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}
