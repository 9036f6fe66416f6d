import Logging
import MQTTCore
import NIOCore
import NIOSSL
import TernBroker

/// The channel handler of one MQTT connection: decodes the bytes into packets, hands them to the broker, and
/// tells the broker when the connection ends. It runs on the broker's event loop.
final class MQTTConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let broker: Broker
    private let table: ConnectionTable
    private var decoder: MQTTPacketDecoder
    private var received: ByteBuffer?
    private var id: ConnectionID?
    private var logger: Logger
    private var remoteAddress = "?"
    private var clientID: String?
    private var failed = false

    private let authenticator: (any ConnectionAuthenticator)?

    private let clientIdentifiers: ClientIdentifierRules?
    /// `max_publish_rate` and `max_publish_bytes_rate`; nil when no rate is set.
    private var pacing: ReadPacing?
    /// Set while reading is paused for `pacing`: the task that resumes it.
    private var resumption: Scheduled<Void>?

    init(broker: Broker, table: ConnectionTable, authenticator: (any ConnectionAuthenticator)?,
         clientIdentifiers: ClientIdentifierRules? = nil, limits: ConnectionLimits = ConnectionLimits(),
         logger: Logger)
    {
        self.pacing = ReadPacing(limits, now: .now())
        self.broker = broker
        self.table = table
        self.authenticator = authenticator
        self.clientIdentifiers = clientIdentifiers
        self.logger = logger
        self.decoder = MQTTPacketDecoder(maximumPacketSize: broker.settings.maximumPacketSize)
    }

    /// The version packets to this client are encoded with; 3.1.1 until its CONNECT says otherwise.
    var protocolVersion: ProtocolVersion { decoder.protocolVersion ?? .v3_1_1 }

    func handlerAdded(context: ChannelHandlerContext) {
        // Added after a WebSocket upgrade, to a channel already active.
        if context.channel.isActive { opened(context.channel) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if id == nil { opened(context.channel) }
        context.fireChannelActive()
    }

    private func opened(_ channel: Channel) {
        let id = table.register(channel: channel, handler: self, authenticator: authenticator)
        self.id = id
        remoteAddress = channel.remoteAddress.map(MQTTServer.display) ?? "?"
        table.traffic.socketsOpened += 1
        broker.connectionOpened(id, now: .now(), requiresAuthentication: authenticator != nil,
                                clientIdentifiers: clientIdentifiers)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard id != nil, !failed else { return }
        var bytes = unwrapInboundIn(data)
        table.traffic.bytesReceived += bytes.readableBytes
        if received == nil || received!.readableBytes == 0 {
            received = bytes
        } else {
            received!.writeBuffer(&bytes)
        }
        // While paused, what arrives waits in `received` for the resumption.
        if resumption == nil { decodeReceived(context: context) }
    }

    /// Decodes and hands to the broker the packets in `received`, until it holds no whole packet or the rate
    /// limits ask for a pause.
    private func decodeReceived(context: ChannelHandlerContext) {
        guard let id, received != nil else { return }
        var output = table.output
        let now = NIODeadline.now()
        do {
            while true {
                if pacing != nil, let wait = pacing!.pause(now: now) {
                    pause(context: context, for: wait)
                    break
                }
                let before = received!.readableBytes
                guard let packet = try decoder.decode(&received!) else { break }
                if pacing != nil {
                    pacing!.spend(bytes: before - received!.readableBytes, isPublish: packet.type == .publish)
                }
                table.traffic.packetsReceived += 1
                if table.subscriptionLog.isEnabled {
                    table.subscriptionLog.log(packet, clientID: clientID ?? "", logger: logger)
                }
                if case .connect(let connect) = packet { clientID = connect.clientIdentifier }
                broker.receive(packet, from: id, now: now, output: &output)
                if failed { return }
            }
        } catch {
            failed = true
            logger.info("closing connection \(remoteAddress) (\(clientID ?? "no client id")): \(error)",
                        metadata: ["reason": "\(error.reasonCode)"])
            broker.decodingFailed(error, connection: id, protocolVersion: decoder.protocolVersion, now: now,
                                  output: &output)
            // The channel closes now, before channelReadComplete: the will published above goes out at once.
            table.flushAll()
        }
        if received!.readableBytes == 0 { received = nil } else { received!.discardReadBytes() }
    }

    /// Stops reading the socket (TCP backpressure slows the client) and resumes after `delay`.
    private func pause(context: ChannelHandlerContext, for delay: TimeAmount) {
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        resumption = context.eventLoop.scheduleTask(in: delay) {
            let (handler, context) = loopBound.value
            handler.resumption = nil
            guard !handler.failed, context.channel.isActive else { return }
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
            handler.decodeReceived(context: context)
            handler.table.flushAll()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        table.flushAtEndOfTick(on: context.eventLoop)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // The socket drained: retained messages still owed to this client may go on (see ConnectionTable).
        if context.channel.isWritable && broker.hasPendingRetained { table.flushAll() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        resumption?.cancel()
        resumption = nil
        if let id {
            table.remove(id)
            var output = table.output
            broker.connectionClosed(id, now: .now(), output: &output)
            table.flushAll()
            if clientID != nil {
                logger.info("client \(clientID!) disconnected from \(remoteAddress)")
            }
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

    /// Called for every packet written to this connection, to log the outcome of CONNECT.
    func packetSent(_ packet: Packet) {
        guard case .connack(let connack) = packet else { return }
        if let connection = self.id, let accepted = broker.clientID(of: connection) { clientID = accepted.string }
        let id = clientID ?? ""
        if connack.reasonCode == .success {
            logger.info("client \(id) connected from \(remoteAddress) (MQTT \(protocolVersion))")
        } else {
            logger.info("client \(id) refused from \(remoteAddress) (MQTT \(protocolVersion)): \(connack.reasonCode)")
        }
    }

    /// The broker closed this connection; nothing more is read from it.
    func closeRequested() {
        failed = true
    }
}
