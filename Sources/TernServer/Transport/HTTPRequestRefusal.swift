import NIOCore
import NIOHTTP1

/// The answer of a WebSocket listener to an HTTP request that it does not upgrade: 426 Upgrade Required for a plain
/// request (a browser opening the address as a page), 403 for a page from an origin that is not allowed, 400 for a
/// WebSocket request without an MQTT subprotocol; then the connection is closed. It also closes a connection that
/// has not upgraded within `upgradeTimeout`. The upgrade removes it.
final class HTTPRequestRefusal: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let settings: WebSocketSettings
    private var head: HTTPRequestHead?
    private var deadline: Scheduled<Void>?

    init(settings: WebSocketSettings) {
        self.settings = settings
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: settings.upgradeTimeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
        let status: HTTPResponseStatus
        let text: String
        var headers = HTTPHeaders()
        let wantsWebSocket = request.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
        if wantsWebSocket && !settings.allows(request.headers) {
            status = .forbidden
            text = "WebSocket connections from origin \(request.headers.first(name: "origin") ?? "") are not allowed.\n"
        } else if wantsWebSocket, case .failure(let mismatch) = settings.subprotocol(for: request.headers) {
            status = .badRequest
            text = """
                This listener speaks MQTT over WebSocket: subprotocol \
                \(WebSocketSettings.subprotocols.joined(separator: " or ")), not \
                \(mismatch.offered.joined(separator: ", ")).\n
                """
        } else if wantsWebSocket {
            status = .badRequest
            text = "Malformed WebSocket upgrade request.\n"
        } else {
            status = .upgradeRequired
            headers.add(name: "Upgrade", value: "websocket")
            text = """
                This is an MQTT over WebSocket listener: connect with an MQTT client over WebSocket \
                (subprotocol mqtt), e.g. MQTT.js with ws://host:port/mqtt.\n
                """
        }
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(text.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status,
                                                             headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))),
                      promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }
}
