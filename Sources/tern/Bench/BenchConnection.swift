import MQTTCore
import NIOCore
import NIOPosix

/// One load-generating MQTT connection on MQTTCore's codec, without the client library's per-message overhead:
/// it connects, subscribes or publishes as fast as its window allows (or at a fixed rate), acknowledges, and
/// records sequence numbers and latencies into the shared ``BenchState``. Runs on its role's event loop (see
/// ``BenchState``).
// @unchecked Sendable: created, driven and read only on its event loop (callers hop there with `loop.submit`);
// it crosses tasks only as a reference that is used there.
final class BenchConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    enum Role {
        case publisher(index: Int, topics: [String])
        case subscriber(index: Int, filter: String)
        case idle
    }

    let role: Role
    let state: BenchState
    // `@exclusivity(unchecked)`: each access to a class's stored property is otherwise checked at run time (an
    // entry in a thread-local access set, found through a TLS lookup), and the per-message paths make a dozen:
    // a third of the generator's time in fan-in went to those checks. The object is used on one thread only, and
    // no access here overlaps another to the same property (the checks never fired in the tests).
    @exclusivity(unchecked) private var decoder: MQTTPacketDecoder
    @exclusivity(unchecked) private var received: ByteBuffer?
    @exclusivity(unchecked) private var context: ChannelHandlerContext?
    let ready: EventLoopPromise<Void>
    @exclusivity(unchecked) private var nextSequence: UInt64 = 0
    @exclusivity(unchecked) private var inflight = 0
    @exclusivity(unchecked) private var nextPacketID: UInt16 = 1
    @exclusivity(unchecked) private var sending = false
    private var rateTask: Scheduled<Void>?
    /// Fixed-rate publishing: its start and the nanoseconds between two messages.
    private var paced: (start: NIODeadline, interval: Double)?
    @exclusivity(unchecked) private var outgoing = ByteBuffer()
    @exclusivity(unchecked) private var pumpAgain = false
    @exclusivity(unchecked) private var acknowledgedInRead = false
    @exclusivity(unchecked) private var payload = ByteBuffer()
    /// When the read being handled arrived (uptime nanoseconds): the receive time of every message in it (a clock
    /// read per message was 4% of the subscribers' time, and a message counted later in a read did not arrive
    /// later).
    @exclusivity(unchecked) private var readAt: UInt64 = 0

    init(role: Role, state: BenchState, eventLoop: any EventLoop) {
        self.role = role
        self.state = state
        self.decoder = MQTTPacketDecoder(protocolVersion: state.options.version)
        self.ready = eventLoop.makePromise()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Behind a WebSocket upgrade the handler joins an already active channel.
        if context.channel.isActive { channelActive(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        guard self.context == nil else { return }
        self.context = context
        var connect = ConnectPacket(protocolVersion: state.options.version, cleanStart: true, keepAlive: 60,
                                    clientIdentifier: "tern-bench-\(ObjectIdentifier(self).hashValue & 0xFFFFFF)")
        if case .subscriber = role, state.options.sessionExpiry > 0 {
            // A persistent session: a durable store has to keep what is queued for it. A 3.1.1 session without
            // clean session persists (the identifier is new each run, so no old session is resumed).
            if state.options.version == .v5 {
                connect.properties.sessionExpiryInterval = state.options.sessionExpiry
            } else {
                connect.cleanStart = false
            }
        }
        write(.connect(connect), context: context)
        writeOutgoing(context: context)
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        rateTask?.cancel()
        ready.fail(BenchError("connection closed before it was ready"))
        self.context = nil
    }

    /// The transport could not be set up (the WebSocket upgrade was refused).
    func failed(_ error: any Error) {
        ready.fail(error)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        ready.fail(error)
        context.close(promise: nil)
    }

    /// Encodes into `outgoing`, written as one buffer per batch (`writeOutgoing`): one allocation and one
    /// pipeline write per batch instead of per packet, so the generator's own cost per message stays small.
    private func write(_ packet: Packet, context: ChannelHandlerContext) {
        try? packet.encode(into: &outgoing, version: state.options.version)
    }

    private func writeOutgoing(context: ChannelHandlerContext) {
        guard outgoing.readableBytes > 0 else { return }
        context.write(NIOAny(outgoing), promise: nil)
        outgoing = context.channel.allocator.buffer(capacity: 16_384)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        readAt = NIODeadline.now().uptimeNanoseconds
        var bytes = unwrapInboundIn(data)
        if received == nil || received!.readableBytes == 0 { received = bytes } else { received!.writeBuffer(&bytes) }
        do {
            while true {
                if receiveLeanPublish(from: &received!, context: context) { continue }
                guard let packet = try decoder.decode(&received!) else { break }
                handle(packet, context: context)
            }
        } catch {
            context.close(promise: nil)
        }
        if received?.readableBytes == 0 { received = nil } else { received?.discardReadBytes() }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // The window reopened by this read's acknowledgements is refilled in one write: pumping on each PUBACK
        // cost the generator one write (and the broker one read) per message, and made QoS 1 runs measure the
        // generator's system calls rather than the broker.
        if acknowledgedInRead {
            acknowledgedInRead = false
            pump()
        }
        writeOutgoing(context: context)
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump() }
    }

    private func handle(_ packet: Packet, context: ChannelHandlerContext) {
        switch packet {
        case .connack(let connack):
            guard connack.reasonCode.isSuccess else {
                ready.fail(BenchError("connection refused: \(connack.reasonCode)"))
                return
            }
            if case .subscriber(_, let filter) = role {
                let subscribe = SubscribePacket(packetIdentifier: 1,
                                                subscriptions: [Subscription(topicFilter: filter, qos: state.options.qos)])
                write(.subscribe(subscribe), context: context)
            } else {
                ready.succeed()
            }
        case .suback:
            ready.succeed()
        case .publish(let publish):
            receivePublish(publish, context: context)
        case .puback, .pubcomp:
            inflight -= 1
            state.acknowledged += 1
            acknowledgedInRead = true
        case .pubrec(let ack):
            write(.pubrel(PublishAckPacket(packetIdentifier: ack.packetIdentifier)), context: context)
        case .pubrel(let ack):
            write(.pubcomp(PublishAckPacket(packetIdentifier: ack.packetIdentifier)), context: context)
        default:
            break
        }
    }

    private func receivePublish(_ publish: PublishPacket, context: ChannelHandlerContext) {
        if let id = publish.packetIdentifier {
            write(publish.qos == .atLeastOnce ? .puback(PublishAckPacket(packetIdentifier: id))
                                             : .pubrec(PublishAckPacket(packetIdentifier: id)), context: context)
        }
        record(payloadAt: publish.payload.readerIndex, length: publish.payload.readableBytes, in: publish.payload)
    }

    /// Counts a received payload (publisher, sequence number and time stamp in its first bytes).
    private func record(payloadAt offset: Int, length: Int, in buffer: ByteBuffer) {
        guard case .subscriber(let index, _) = role, length >= BenchState.headerSize,
            let publisher = buffer.getInteger(at: offset, as: UInt32.self),
            let sequence = buffer.getInteger(at: offset + 4, as: UInt64.self),
            let stamp = buffer.getInteger(at: offset + 12, as: UInt64.self)
        else { return }
        state.received(subscriber: index, publisher: Int(publisher), sequence: sequence, stamp: stamp, now: readAt)
    }

    /// Takes the next packet when it is a whole PUBLISH of QoS 0 or 1 without DUP or RETAIN (what a subscriber
    /// gets in every scenario), read in place: no packet value, topic `String` or property array per message. The
    /// generator's subscriber decoded about a million messages a second on the core its publishers also need, so
    /// what it saves here goes to sending. Anything else (or an incomplete packet) is left to the decoder.
    private func receiveLeanPublish(from buffer: inout ByteBuffer, context: ChannelHandlerContext) -> Bool {
        let start = buffer.readerIndex
        guard let header = buffer.getInteger(at: start, as: UInt8.self), header == 0x30 || header == 0x32,
            let (length, lengthBytes) = (try? buffer.getVariableByteInteger(at: start + 1)) ?? nil
        else { return false }
        let bodyStart = start + 1 + lengthBytes
        let end = bodyStart + length
        guard end <= buffer.writerIndex, let topicLength = buffer.getInteger(at: bodyStart, as: UInt16.self) else {
            return false
        }
        var position = bodyStart + 2 + Int(topicLength)
        var packetIdentifier: UInt16?
        if header == 0x32 {
            guard let identifier = buffer.getInteger(at: position, as: UInt16.self) else { return false }
            packetIdentifier = identifier
            position += 2
        }
        if state.options.version == .v5 {
            guard let (propertiesLength, lengthBytes) = (try? buffer.getVariableByteInteger(at: position)) ?? nil
            else { return false }
            position += lengthBytes + propertiesLength
        }
        guard position <= end else { return false }
        if let packetIdentifier {
            write(.puback(PublishAckPacket(packetIdentifier: packetIdentifier)), context: context)
        }
        record(payloadAt: position, length: end - position, in: buffer)  // before the reader index passes it
        buffer.moveReaderIndex(to: end)
        return true
    }

    // MARK: Publishing

    /// Starts publishing: as fast as the window allows, or `rate` messages per second from intended send times.
    func startPublishing(rate: Double?) {
        guard case .publisher = role, context != nil else { return }
        if let rate, rate > 0 {
            paced = (start: NIODeadline.now(), interval: 1e9 / rate)
            sendPaced()
        } else {
            pump()
        }
    }

    /// Sends every message whose intended time has come, then sleeps until the next one's: each message leaves at
    /// its own time (within the timer's precision), so latency measures the broker, not a ticking generator.
    /// (A tick of 1 ms delayed each message by half a millisecond on average, the same for every broker, which
    /// drowned the brokers' own differences.)
    private func sendPaced() {
        guard let paced, let context, state.running else { return }
        // The intended time of message `nextSequence`.
        func intendedTime() -> NIODeadline { paced.start + .nanoseconds(Int64(Double(nextSequence) * paced.interval)) }
        let now = NIODeadline.now()
        var sent = false
        var intended = intendedTime()
        while intended <= now {
            guard sendOne(stamp: intended) else { break }
            sent = true
            intended = intendedTime()
        }
        if sent {
            writeOutgoing(context: context)
            context.flush()
        }
        // A full window or a reached count ends in the past: retried a millisecond later.
        let next = intended > now ? intended : now + .milliseconds(1)
        rateTask = context.eventLoop.scheduleTask(deadline: next) { [self] in sendPaced() }
    }

    private func pump() {
        guard case .publisher = role, state.running, paced == nil, let context else { return }
        // The flush below can make the channel writable again and call back here: remember it, pump again.
        guard !sending else {
            pumpAgain = true
            return
        }
        sending = true
        defer { sending = false }
        var batch = 0
        // One time stamp for the batch: its messages leave together, at the flush below (a clock read per
        // message was 4% of the publishers' time).
        let stamp = NIODeadline.now()
        while state.running && context.channel.isWritable && batch < 128 {
            guard sendOne(stamp: stamp) else { break }
            batch += 1
        }
        writeOutgoing(context: context)
        context.flush()
        if batch == 128 || pumpAgain {
            pumpAgain = false
            // NIO runs this before it reads sockets again: fine on the publishers' loop (see BenchState), and a
            // QoS 1 or 2 window that fills ends the batch short, which lets the acknowledgements be read.
            context.eventLoop.execute { [self] in pump() }
        }
    }

    /// Writes one PUBLISH stamped with `stamp`; false when the window is full or the count is reached.
    private func sendOne(stamp: NIODeadline) -> Bool {
        guard case .publisher(let index, let topics) = role, let context else { return false }
        if state.options.qos != .atMostOnce && inflight >= state.options.window { return false }
        if let count = state.options.count, nextSequence >= UInt64(count) { return false }
        // One payload buffer, its header rewritten in place per message (the packet that held it has been
        // encoded and dropped, so no copy is made).
        if payload.readableBytes != state.options.payloadSize {
            payload = context.channel.allocator.buffer(capacity: state.options.payloadSize)
            payload.writeRepeatingByte(0x61, count: state.options.payloadSize)
        }
        payload.setInteger(UInt32(index), at: payload.readerIndex)
        payload.setInteger(nextSequence, at: payload.readerIndex + 4)
        payload.setInteger(UInt64(stamp.uptimeNanoseconds), at: payload.readerIndex + 12)
        var packetID: UInt16?
        if state.options.qos != .atMostOnce {
            packetID = nextPacketID
            nextPacketID = nextPacketID == .max ? 1 : nextPacketID + 1
            inflight += 1
        }
        let topic = topics.count == 1 ? topics[0] : topics[Int(nextSequence % UInt64(topics.count))]
        write(.publish(PublishPacket(topic: topic, payload: payload, qos: state.options.qos, packetIdentifier: packetID)),
              context: context)
        nextSequence += 1
        state.sent(publisher: index)
        return true
    }

    func disconnect() {
        rateTask?.cancel()
        guard let context else { return }
        write(.disconnect(DisconnectPacket()), context: context)
        writeOutgoing(context: context)
        context.flush()
        context.close(promise: nil)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
