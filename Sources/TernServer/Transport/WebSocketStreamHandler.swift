import NIOCore
import NIOWebSocket

/// Carries a connection's MQTT byte stream in WebSocket frames, after the HTTP upgrade. Inbound, the payloads of
/// binary frames (and of their continuation frames) are passed on as bytes, whatever the frame boundaries: a packet
/// may span frames and a frame may hold several packets. Outbound, each buffer written goes out as one binary frame.
/// Pings are answered, a close frame is echoed before the connection closes, and a text frame closes the
/// connection with 1003, since MQTT is sent as binary data only [MQTT-6.0.0-1].
final class WebSocketStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    private var closeSent = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard !closeSent else {
            // The peer's answer to our close frame.
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        }
        switch frame.opcode {
        case .binary, .continuation:
            let payload = frame.unmaskedData
            if payload.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(payload)) }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)),
                                  promise: nil)
        case .pong:
            break
        case .connectionClose:
            // Echo the status code, then close [RFC 6455 5.5.1].
            var payload = frame.unmaskedData
            let code = payload.readWebSocketErrorCode() ?? .normalClosure
            closeWith(code, context: context)
        case .text:
            closeWith(.unacceptableData, context: context)
        default:
            closeWith(.protocolError, context: context)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        guard !closeSent else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        // The connection table writes an empty buffer to learn when earlier writes have gone: no frame for it.
        guard bytes.readableBytes > 0 else {
            promise?.succeed(())
            return
        }
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: bytes)), promise: promise)
    }

    /// The broker closes the connection: a close frame (1000) goes first.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, !closeSent, context.channel.isActive else {
            context.close(mode: mode, promise: promise)
            return
        }
        closeWith(.normalClosure, context: context, promise: promise)
    }

    private func closeWith(_ code: WebSocketErrorCode, context: ChannelHandlerContext,
                           promise: EventLoopPromise<Void>? = nil)
    {
        guard !closeSent else {
            context.close(promise: promise)
            return
        }
        closeSent = true
        var payload = context.channel.allocator.buffer(capacity: 2)
        payload.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in
            bound.value.close(promise: promise)
        }
    }
}
