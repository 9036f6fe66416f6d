import Logging
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Pauses a listener's accepts when `accept` fails for want of a resource: the process's open-file limit (EMFILE),
/// the system's (ENFILE), or kernel memory (ENOBUFS, ENOMEM). Goes first in a listening channel's pipeline.
///
/// NIO leaves such a listener open, registered for reading, and its socket stays readable while connections wait
/// in the backlog: the event loop would call `accept` again at once, again and again, a whole core spent on it
/// while the broker's clients wait. NIO's `AcceptBackoffHandler` does not stop that loop: it delays the next
/// `read`, but when the first `accept` of a wake-up fails NIO never asks for one and leaves the socket registered.
/// This handler turns the listener's `autoRead` off, which takes the socket out of the poll, and on again after
/// `delay`; connections that arrive meanwhile wait in the kernel's backlog (their TCP handshake done) and are
/// accepted once descriptors are free. A warning says why, at most once per `warningInterval`. The MQTT listeners
/// and the HTTP listener (whose Hummingbird server has NIO's handler) both have it.
public final class AcceptPause: ChannelInboundHandler {
    public typealias InboundIn = Channel
    public typealias InboundOut = Channel

    static let delay = TimeAmount.seconds(1)
    static let warningInterval = TimeAmount.seconds(60)

    private let logger: Logger
    private var resume: Scheduled<Void>?
    private var lastWarning: NIODeadline?
    private var failedSinceWarning = 0

    public init(logger: Logger) {
        self.logger = logger
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let error = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode) else {
            context.fireErrorCaught(error)
            return
        }
        warn(error, listener: context.channel)
        guard resume == nil, let options = context.channel.syncOptions else { return }
        try? options.setOption(.autoRead, value: false)
        let channel = context.channel
        resume = context.eventLoop.assumeIsolated().scheduleTask(in: Self.delay) { [weak self] in
            self?.resume = nil
            try? channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        resume?.cancel()
        resume = nil
        context.fireChannelInactive()
    }

    private func warn(_ error: IOError, listener: Channel) {
        failedSinceWarning += 1
        let now = NIODeadline.now()
        if let lastWarning, now - lastWarning < Self.warningInterval { return }
        let advice = switch error.errnoCode {
        case EMFILE: " (raise the open-file limit: `ulimit -n`, systemd's LimitNOFILE; or lower max_connections)"
        case ENFILE: " (the system's open-file limit: fs.file-max)"
        default: ""
        }
        let address = listener.localAddress.map(MQTTServer.display) ?? "a listener"
        let count = failedSinceWarning > 1 ? " (\(failedSinceWarning) failed accepts since the last warning)" : ""
        logger.warning("""
            cannot accept connections on \(address): \(error)\(advice); new connections wait, accepting is \
            retried every \(Self.delay.nanoseconds / 1_000_000_000) s\(count)
            """)
        lastWarning = now
        failedSinceWarning = 0
    }
}
