import DequeModule
import Logging
import MQTTCore
import NIOCore
import NIOSSL
import TernBroker

/// The channel handler of one MQTT connection: decodes the bytes into packets and hands them to the broker, and
/// tells the broker when the connection opens and ends.
///
/// It runs on its channel's event loop, which may not be the broker's (`event_loops` above 1): the broker and
/// the connection table are then reached with one task per read, carrying every packet of that read, so that
/// reading and decoding happen on the connection's loop and the broker's loop only routes.
final class MQTTConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    /// What every connection of one listener shares, held once: a copy of each field in every handler was a
    /// third of an idle connection's handler (about 100 of 300 bytes).
    final class Listener: Sendable {
        /// The broker and the connection table, on the broker's event loop.
        let server: NIOLoopBoundBox<MQTTServer.State>
        let brokerLoop: EventLoop
        let ids: ConnectionIDs
        let maximumPacketSize: Int
        /// The listener's authenticator; nil when it lets every client in.
        let authenticator: (any ConnectionAuthenticator)?
        let clientIdentifiers: ClientIdentifierRules?
        let protocolLimits: ListenerProtocolLimits?
        let limits: ConnectionLimits
        let logger: Logger

        init(server: NIOLoopBoundBox<MQTTServer.State>, brokerLoop: EventLoop, ids: ConnectionIDs,
             maximumPacketSize: Int, authenticator: (any ConnectionAuthenticator)?,
             clientIdentifiers: ClientIdentifierRules?, protocolLimits: ListenerProtocolLimits? = nil,
             limits: ConnectionLimits, logger: Logger)
        {
            self.server = server
            self.brokerLoop = brokerLoop
            self.ids = ids
            self.maximumPacketSize = maximumPacketSize
            self.authenticator = authenticator
            self.clientIdentifiers = clientIdentifiers
            self.protocolLimits = protocolLimits
            self.limits = limits
            self.logger = logger
        }
    }

    private let listener: Listener
    private var server: NIOLoopBoundBox<MQTTServer.State> { listener.server }
    private var brokerLoop: EventLoop { listener.brokerLoop }
    private var logger: Logger { listener.logger }
    private var decoder: MQTTPacketDecoder
    private var received = InboundBytes()
    private var id: ConnectionID?
    private var remoteAddress = "?"
    /// The client identifier of the CONNECT, then the one the broker accepted (assigned to an empty one).
    var clientID: String?
    private var failed = false
    /// `max_publish_rate` and `max_publish_bytes_rate`; nil when no rate is set.
    private var pacing: ReadPacing?
    /// Set while reading is paused for `pacing`: the task that resumes it.
    private var resumption: Scheduled<Void>?
    /// Reads handed to the broker's loop and not yet handled there (see `handOver`); made at the first, since a
    /// connection on the broker's loop hands none over.
    private lazy var handover = ReadHandover()
    /// Set while the broker holds this publisher back (publisher flow control): reading stays off whatever else
    /// would resume it.
    private var heldBack = false

    init(listener: Listener) {
        self.listener = listener
        self.pacing = ReadPacing(listener.limits, now: .now())
        self.decoder = MQTTPacketDecoder(maximumPacketSize: listener.maximumPacketSize)
    }

    /// Runs `body` with the broker's state: at once when this connection lives on the broker's loop, else as a
    /// task there (tasks from one loop run in the order they were queued, so the broker sees this connection's
    /// events in order).
    private func withServer(_ body: @escaping @Sendable (MQTTServer.State) -> Void) {
        if brokerLoop.inEventLoop {
            body(server.value)
        } else {
            let server = self.server
            brokerLoop.execute { body(server.value) }
        }
    }

    /// Hands a read to the broker's loop, from another loop. Reading stops while `ReadHandover.limit` reads wait
    /// there, and resumes when the broker's loop has caught up: a connection cannot send faster than the broker
    /// routes (as on one loop, where reading waits for routing), and what waits between the loops stays bounded.
    private func handOver(_ body: @escaping @Sendable (MQTTServer.State) -> Void, context: ChannelHandlerContext) {
        let server = self.server, handover = self.handover
        let resume = NIOLoopBound(context, eventLoop: context.eventLoop)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        brokerLoop.execute {
            body(server.value)
            if handover.handled() {
                loop.execute {
                    guard !handler.value.heldBack else { return }
                    resume.value.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
                }
            }
        }
        if handover.handedOver() {
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Added after a WebSocket upgrade, to a channel already active.
        if context.channel.isActive { opened(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if id == nil { opened(context) }
        context.fireChannelActive()
    }

    private func opened(_ context: ChannelHandlerContext) {
        let id = listener.ids.next()
        self.id = id
        let channel = context.channel
        let remoteAddress = channel.remoteAddress.map(MQTTServer.display) ?? "?"
        self.remoteAddress = remoteAddress
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let authenticator = listener.authenticator, clientIdentifiers = listener.clientIdentifiers
        let protocolLimits = listener.protocolLimits
        let logger = listener.logger
        withServer { state in
            state.table.register(id, channel: channel, handler: handler, authenticator: authenticator,
                                 remoteAddress: remoteAddress, logger: logger)
            state.broker.connectionOpened(id, now: .now(), requiresAuthentication: authenticator != nil,
                                          clientIdentifiers: clientIdentifiers, protocolLimits: protocolLimits)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard id != nil, !failed else { return }
        received.append(unwrapInboundIn(data), allocator: context.channel.allocator)
        // While paused, what arrives waits in `received` for the resumption.
        if resumption == nil { decodeReceived(context: context) }
    }

    /// Decodes the packets in `received`, until it holds no whole packet or the rate limits ask for a pause, and
    /// hands them to the broker together.
    private func decodeReceived(context: ChannelHandlerContext) {
        guard let id, received.count > 0 else { return }
        let now = pacing == nil ? nil : NIODeadline.now()
        let before = received.count
        // On the broker's loop: the table, reached directly, and its deque for reads, empty with its capacity (no
        // allocation per read).
        let table = brokerLoop.inEventLoop ? server.value.table : nil
        var packets: Deque<Packet> = []
        if let table { swap(&packets, &table.readPackets) }
        var failure: MQTTDecodingError?
        var certificate: ClientCertificateIdentity?
        do {
            while true {
                if let now, let wait = pacing!.pause(now: now) {
                    pause(context: context, for: wait)
                    break
                }
                let start = received.count
                guard let packet = try received.decode(with: &decoder) else { break }
                if pacing != nil {
                    pacing!.spend(bytes: start - received.count, isPublish: packet.type == .publish)
                }
                if case .connect(let connect) = packet {
                    clientID = connect.clientIdentifier
                    // Read here: the TLS handler is on this loop. Only the listener's authenticator asks for it.
                    if listener.authenticator != nil {
                        certificate = ListenerTransport.clientCertificate(of: context.channel)
                    }
                }
                packets.append(packet)
            }
        } catch {
            failed = true
            failure = error
        }
        let bytes = before - received.count
        guard !packets.isEmpty || failure != nil else {
            table?.readPackets = packets  // no whole packet yet
            return
        }
        let version = decoder.protocolVersion
        if let table {
            // Called directly, not through `handOver`'s closure: that would be allocated with its captures.
            table.receive(&packets, bytes: bytes, from: id, protocolVersion: version, clientCertificate: certificate,
                          failure: failure)
            packets.removeAll(keepingCapacity: true)
            table.readPackets = packets
        } else {
            let (read, error, presented) = (packets, failure, certificate)
            handOver({ state in
                var read = read  // shared with this closure: taken out by a copy
                state.table.receive(&read, bytes: bytes, from: id, protocolVersion: version,
                                    clientCertificate: presented, failure: error)
            }, context: context)
        }
    }

    /// Stops reading the socket (TCP backpressure slows the client) and resumes after `delay`.
    private func pause(context: ChannelHandlerContext, for delay: TimeAmount) {
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        resumption = context.eventLoop.scheduleTask(in: delay) {
            let (handler, context) = loopBound.value
            handler.resumption = nil
            guard !handler.failed, context.channel.isActive else { return }
            if !handler.heldBack {
                context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
            }
            handler.decodeReceived(context: context)
        }
    }

    /// Publisher flow control: the broker stops (`hold`) or resumes reading this connection. While reading is off,
    /// the client's writes fill the socket buffers and TCP slows it down. Runs on the channel's loop.
    func holdBack(_ hold: Bool, channel: Channel) {
        guard hold != heldBack else { return }
        heldBack = hold
        // Not resumed while the read-rate pacing pauses it (its resumption checks `heldBack`); a pause of the
        // hand-over to the broker's loop takes effect again at the next read.
        if hold || resumption == nil {
            channel.setOption(ChannelOptions.autoRead, value: !hold).whenComplete { _ in }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // The socket drained: retained messages still owed to this client may go on (see ConnectionTable).
        if context.channel.isWritable {
            withServer { state in
                if state.broker.hasPendingRetained { state.table.scheduleRetainedTurn() }
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        resumption?.cancel()
        resumption = nil
        if let id {
            withServer { state in state.table.connectionClosed(id) }
            if let clientID { logger.info("client \(clientID) disconnected from \(remoteAddress)") }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is NIOSSLError || error is BoringSSLError {
            // A refused client certificate (unknown CA, expired, missing) or a client that does not trust ours.
            logger.notice("connection \(remoteAddress): TLS failed: \(ListenerTransport.tlsFailureReason(error))")
        } else {
            logger.debug("connection \(remoteAddress): \(error)")
        }
        context.close(promise: nil)
    }

    /// The broker closed this connection; nothing more is read from it.
    func closeRequested() {
        failed = true
    }
}
