import MQTTCore
import NIOCore

/// The last handler of a client connection: decodes the server's bytes into packets for the session and tells
/// it when the transport is ready and when it ends. Runs on the session's event loop.
final class MQTTClientChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    let session: MQTTClientSession
    private var decoder: MQTTPacketDecoder
    private var received = InboundBytes()
    private var failed = false
    private var started = false

    init(session: MQTTClientSession) {
        self.session = session
        self.decoder = MQTTPacketDecoder(maximumPacketSize: session.configuration.maximumPacketSize,
                                         protocolVersion: session.configuration.protocolVersion)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Behind a WebSocket upgrade the handler joins an already active channel.
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        session.transportReady(context.channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        received.append(unwrapInboundIn(data), allocator: context.channel.allocator)
        session.reading = true
        defer { session.reading = false }
        do {
            while let packet = try received.decode(with: &decoder) {
                session.received(packet)
                if failed || !context.channel.isActive { break }
            }
        } catch {
            failed = true
            session.decodingFailed(error)
            return
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        session.flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        session.transportFailed(context.channel, error: error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.channelClosed(context.channel, error: nil)
        context.fireChannelInactive()
    }
}
