import DequeModule
import Logging
import MQTTCore
import NIOCore
import NIOPosix
import TernBroker

/// The live connections, by the identifiers the broker knows them by, and the broker output that writes to
/// them. The table lives on the broker's event loop; a connection's channel may live on another loop (with
/// `event_loops` above 1), and then its reads arrive here as one task per read (`receive`) and its writes leave
/// as one task per turn (`flushAll`). Writes are not flushed one by one: a connection written to is marked, and
/// all marked connections are flushed once at the end of the event-loop work that wrote to them.
///
/// With a store, the end of that work also takes the broker's durable changes and submits them to the store
/// writer; what the work wrote (acknowledgements among it) is held, unflushed, until the commit is confirmed
/// (`commitCompleted`), so no acknowledgement precedes its commit. Closes wait the same way. A connection that got
/// only QoS 1 deliveries in the turn (and has nothing held from an earlier one) is flushed at once: a delivery
/// acknowledges nothing, and should the broker stop before the commit, what comes again after the restart (the
/// message from its publisher, never acknowledged; a will from its stored session) is a duplicate, which QoS 1
/// allows. The subscriber's acknowledgement then often reaches the writer before the commit that would save the
/// message in flight, and the save is dropped (`StoreChange.droppingWritesDeletedLater`). QoS 2 deliveries wait
/// (sent again under another packet identifier, a message would arrive twice), and QoS 0 ones too (at most once).
final class ConnectionTable {
    /// A class: the table reads a field or two of it per packet, and reading a field of a struct held in a
    /// dictionary copies the whole struct out (a retain and a release of each of its references).
    final class Entry {
        let id: ConnectionID
        let channel: Channel
        /// The channel handler, on the channel's event loop.
        let handler: NIOLoopBound<MQTTConnectionHandler>
        /// The listener's authenticator; nil when the listener lets every client in.
        let authenticator: (any ConnectionAuthenticator)?
        /// The client's address, as logged (`127.0.0.1:50122`, `[::1]:50122`).
        let remoteAddress: String
        let logger: Logger
        /// The enhanced authentication exchange waiting for the client's next AUTH.
        var exchange: (any AuthenticationExchange)?
        /// What was encoded for this connection in the current turn and not yet written to its channel.
        var pending: ByteBuffer?
        /// Instead of `pending` (never both): what this connection gets in the current turn is a run of the table's
        /// `broadcast` buffer, written to the channel as a slice of it.
        var broadcastRun: Range<Int>?
        /// The version packets are encoded with: the decoder's, 3.1.1 until a CONNECT said otherwise.
        var protocolVersion = ProtocolVersion.v3_1_1
        /// False once the entry has left the table (the connection closed, or the broker closed it).
        var isOpen = true
        /// Whether the entry is in `unflushed`, the connections written to in this turn.
        var isUnflushed = false
        /// Whether what this connection got in this turn must wait for the commit of the turn's store changes:
        /// anything but QoS 1 deliveries (see the type's comment).
        var waitsForCommit = false
        /// The channel's writability as read in turn `writableTurn` (see `ConnectionTable.isWritable`).
        var writable = true
        var writableTurn: UInt64 = 0
        /// Publisher flow control: set while the broker holds this publisher back; the packets of its last read
        /// that came after the one that held it wait in `deferred` (in order) until it is released, and so does
        /// the decoding failure that ended that read, if any, so that it is handled after them, as without a hold.
        var isHeld = false
        var deferred: Deque<Packet> = []
        var deferredFailure: (error: MQTTDecodingError, protocolVersion: ProtocolVersion?)?
        var hasDeferred: Bool { !deferred.isEmpty || deferredFailure != nil }
        /// The client identifier of the CONNECT (for logs), and the certificate the client presented over TLS.
        var clientIdentifier: String?
        var clientCertificate: ClientCertificateIdentity?

        /// Runs `body` with the handler on the channel's loop: at once when that is the current one.
        func withHandler(_ body: @escaping @Sendable (MQTTConnectionHandler) -> Void) {
            if channel.eventLoop.inEventLoop {
                body(handler.value)
            } else {
                let handler = self.handler
                channel.eventLoop.execute { body(handler.value) }
            }
        }

        init(id: ConnectionID, channel: Channel, handler: NIOLoopBound<MQTTConnectionHandler>,
             authenticator: (any ConnectionAuthenticator)?, remoteAddress: String, logger: Logger)
        {
            self.id = id
            self.channel = channel
            self.handler = handler
            self.authenticator = authenticator
            self.remoteAddress = remoteAddress
            self.logger = logger
        }
    }

    fileprivate var entries: [ConnectionID: Entry] = [:]
    /// The array the connections on this loop decode a read into, kept empty between reads for its capacity
    /// (`MQTTConnectionHandler.decodeReceived`): one for all of them, since one per connection would cost each
    /// idle connection an allocation of its own (0.2 KB). A deque, so that `receive` takes each packet out of it
    /// (moved, where iterating an array copies each packet: a retain and a release of its topic, payload and
    /// properties per packet).
    var readPackets: Deque<Packet> = []
    /// The entry looked up last: a turn's packets mostly go to one connection (fan-in: every message to the one
    /// subscriber), and each costs a writability check and a send, two hashed lookups without this.
    private var lastLookup: Entry?
    /// Connections written to in this turn, as their entries (flushAll needs no lookup per connection). Entries,
    /// not (identifier, entry) pairs: an array of tuples is emptied through the runtime's generic tuple witnesses,
    /// 3% of the user time per lone message at 1,000 msg/s.
    private var unflushed: [Entry] = []
    /// The last PUBLISH sent that every subscriber of its message gets as is, or but for its packet identifier
    /// (nothing else per subscriber: no subscription identifier, topic alias or remaining expiry): its first
    /// subscriber gets it encoded into its own buffer; the second has it encoded once more, at the end of
    /// `broadcast` (QoS 0: `range`) or into `publishTemplate` (QoS 1 and 2), and every later one gets those bytes
    /// (with its own packet identifier written into a copy of the template). A message with one subscriber
    /// (fan-in) is encoded once, straight into that client's buffer.
    private var shared = SharedPublish()
    /// The QoS 1 or 2 PUBLISH of `shared`, copied for each of its subscribers: a copy with the subscriber's packet
    /// identifier written in costs about half of encoding the packet anew (fan-out QoS 1).
    private var publishTemplate = ByteBuffer()
    /// Counts the turns (`flushAll` calls), for the writability kept per turn (`isWritable`).
    private var turn: UInt64 = 1
    /// This turn's PUBLISHes that reached a second subscriber as the same bytes, one after the other. A connection
    /// whose turn is a run of them (fan-out: from its second subscriber on, every subscriber of every message)
    /// gets that run written as a slice of this buffer (`Entry.broadcastRun`): no copy per subscriber. Copying
    /// them into 100 subscribers' buffers, turns of hundreds of messages, wrote megabytes of fresh memory per turn
    /// that missed the cache and were read once more by the socket writes (a quarter of the broker's CPU in
    /// fan-out QoS 0).
    private var broadcast = ByteBuffer()
    /// Past this capacity `broadcast` (and `publishTemplate`) is let go after its turn, not kept for the next.
    static let broadcastKeptCapacity = 1024 * 1024
    /// Buffers written in earlier turns, for the connections that start a turn's buffer.
    private var spareBuffers = SpareBuffers()

    /// The message whose bytes its subscribers share (see `shared`). A fan-out message is compared against it once
    /// per subscriber.
    private struct SharedPublish {
        /// What makes two PUBLISHes the same bytes but for the packet identifier: plain values, so that comparing
        /// them copies and retains nothing.
        struct Key: Equatable {
            var identity: ObjectIdentifier
            var retain: Bool
            var version: ProtocolVersion
            var qos: QoS
            var duplicate: Bool

            @inline(__always)  // else a copy of `publish` (a retain and a release of its message and properties)
            init(_ publish: OutgoingPublish, version: ProtocolVersion) {
                identity = publish.message.identity
                retain = publish.retain
                self.version = version
                qos = publish.qos
                duplicate = publish.duplicate
            }
        }

        /// Held so that `key.identity` cannot be reused by another message while it is compared against (the
        /// next message of a fan-in, allocated where the last one was, would be taken for its second subscriber).
        var message: ApplicationMessage?
        var key: Key?
        /// QoS 0: where its bytes are in `broadcast`, once it reached a second subscriber.
        var range: Range<Int>?
        /// QoS 1 and 2: where the packet identifier is in `publishTemplate`, once that holds the message (from its
        /// second subscriber on).
        var identifierOffset: Int?
    }

    let logger: Logger
    /// The broker's event loop, where the table lives.
    let loop: EventLoop
    /// The ticks of `loop`: whether it has polled its sockets since some moment (see `scheduleRetainedTurn`).
    private let ticks: EventLoopTicks
    private let threadPool: NIOThreadPool
    /// Called on the event loop with the outcome of an authentication.
    var authenticationCompleted: ((ConnectionID, AuthenticationResult) -> Void)?
    /// Bytes, packets and sockets counted on this loop's connections, for `$SYS` and metrics.
    var traffic = WireTraffic()
    /// CONNECTs refused by a listener's authenticator (bad user name or password, not allowed in).
    var authenticationFailures = 0
    /// `log_type subscribe` and `unsubscribe`.
    var subscriptionLog = SubscriptionLog()

    /// The broker whose changes are committed, and the writer that commits them; nil without a store.
    var durability: (broker: Broker, writer: StoreWriter)?
    /// The broker this table's connections talk to; set once by the server.
    var broker: Broker?
    /// Whether a turn is scheduled to send more retained messages (see `continueRetained`).
    private var retainedTurnScheduled = false
    /// Whether a `flushAll` is scheduled for the end of the event loop's tick (see `flushAtEndOfTick`).
    private var flushScheduled = false
    /// Reads a page of a stored queue for the broker (see `Broker.takeQueuePageRequests`); set with `durability`.
    var readQueuePage: ((QueuePageRequest) -> Void)?
    /// Connections with writes waiting for the commit of a batch, by that batch's number.
    private var held: [ConnectionID: UInt64] = [:]
    /// Connections closed by the broker in the current turn, and closes waiting for a commit.
    private var closing: [(ConnectionID, Channel)] = []
    private var heldCloses: [(channel: Channel, batch: UInt64)] = []

    /// - Parameter ticks: counts the ticks of `loop` (the delegate of its event loop group).
    init(logger: Logger, threadPool: NIOThreadPool, loop: EventLoop, ticks: EventLoopTicks) {
        self.logger = logger
        self.threadPool = threadPool
        self.loop = loop
        self.ticks = ticks
    }

    var count: Int { entries.count }

    /// A connection opened: `id` was allocated on its own loop (`ConnectionIDs`).
    func register(_ id: ConnectionID, channel: Channel, handler: NIOLoopBound<MQTTConnectionHandler>,
                  authenticator: (any ConnectionAuthenticator)?, remoteAddress: String, logger: Logger)
    {
        entries[id] = Entry(id: id, channel: channel, handler: handler, authenticator: authenticator,
                            remoteAddress: remoteAddress, logger: logger)
        traffic.socketsOpened += 1
    }

    /// Packets read from a connection, in order, and the bytes they came in; `failure` when the bytes that
    /// followed them could not be decoded. `protocolVersion` is the decoder's after them.
    func receive(_ packets: inout Deque<Packet>, bytes: Int, from id: ConnectionID, protocolVersion: ProtocolVersion?,
                 clientCertificate: ClientCertificateIdentity?, failure: MQTTDecodingError?)
    {
        guard let broker, let entry = entry(id) else { return }
        traffic.bytesReceived += bytes
        if let protocolVersion { entry.protocolVersion = protocolVersion }
        if let clientCertificate { entry.clientCertificate = clientCertificate }
        var output = self.output
        let now = NIODeadline.now()
        let count = packets.count
        while let packet = packets.popFirst() {
            // The broker closed the connection on an earlier packet: what followed it is not read.
            guard entry.isOpen else { return }  // a flag rather than a lookup per packet
            // Held back by an earlier packet (or still releasing earlier ones): the rest waits, in order. A read
            // holds hundreds of PUBLISHes, more than a queue has room for beyond the mark that held it.
            if entry.isHeld || entry.hasDeferred && packets.count == count - 1 {
                entry.deferred.append(packet)
                entry.deferred.append(contentsOf: packets)
                packets.removeAll(keepingCapacity: true)
                break
            }
            traffic.packetsReceived += 1
            if case .connect(let connect) = packet { entry.clientIdentifier = connect.clientIdentifier }
            if subscriptionLog.isEnabled {
                subscriptionLog.log(packet, clientID: entry.clientIdentifier ?? "", logger: entry.logger)
            }
            broker.receive(packet, from: id, now: now, output: &output)
        }
        if let failure, entry.isHeld || entry.hasDeferred {
            entry.deferredFailure = (failure, protocolVersion)  // after the deferred packets (`receiveDeferred`)
        } else if let failure, entry.isOpen {
            entry.logger.info("""
                closing connection \(entry.remoteAddress) (\(entry.clientIdentifier ?? "no client id")): \(failure)
                """, metadata: ["reason": "\(failure.reasonCode)"])
            broker.decodingFailed(failure, connection: id, protocolVersion: protocolVersion, now: now,
                                  output: &output)
            // The channel closes now: the will published above goes out at once.
            flushAll()
            return
        }
        // A read of one packet, from a client that sends now and then, goes out at once: its reader is waiting, and
        // nothing else of the tick is likely to join it. A read of several, from a busy client, waits for the end
        // of the tick with the others (a subscriber of four busy publishers gets one write per tick, not four).
        // With a store, every flush submits a batch: all wait, so that one commit covers the tick.
        if count == 1 && durability == nil { flushAll() } else { flushAtEndOfTick() }
    }

    /// The connection's channel closed.
    func connectionClosed(_ id: ConnectionID) {
        guard let broker else { return }
        remove(id)
        var output = self.output
        broker.connectionClosed(id, now: .now(), output: &output)
        flushAll()
    }

    func remove(_ id: ConnectionID) {
        entries.removeValue(forKey: id)?.isOpen = false
        if lastLookup?.id == id { lastLookup = nil }
    }

    /// The connection's entry, through a one-entry cache of the last lookup.
    fileprivate func entry(_ id: ConnectionID) -> Entry? {
        if let lastLookup, lastLookup.id == id { return lastLookup }
        guard let entry = entries[id] else { return nil }
        lastLookup = entry
        return entry
    }

    var allConnections: [ConnectionID] { Array(entries.keys) }

    /// The client's address, as logged (`127.0.0.1:50122`, `[::1]:50122`).
    func remoteAddress(of id: ConnectionID) -> String? {
        entries[id]?.remoteAddress
    }

    /// The local port a connection was accepted on: which listener it came through.
    func localPort(of id: ConnectionID) -> Int? {
        entries[id]?.channel.localAddress?.port
    }

    /// The authenticator of the listener a connection came through; nil for a listener that lets everyone in.
    func authenticator(of id: ConnectionID) -> (any ConnectionAuthenticator)? {
        entries[id]?.authenticator
    }

    /// Calls `flushAll` once the event loop has handled every socket that was ready in this tick: the reads of
    /// all connections in one tick then end in one write and one flush per connection written to, rather than
    /// one per connection read (fan-in: four publishers read in one tick gave the subscriber four writes).
    func flushAtEndOfTick() {
        guard !flushScheduled else { return }
        flushScheduled = true
        let table = NIOLoopBound(self, eventLoop: loop)
        // Tasks run after the I/O events of the tick that queued them (and after the reads that other loops
        // handed over before).
        loop.execute {
            table.value.flushScheduled = false
            table.value.flushAll()
        }
    }

    /// Flushes every connection written to since the last call; with a store, first submits the changes made
    /// since the last call, and holds the writes until they are committed.
    func flushAll() {
        let moreRetained = if let broker, broker.hasPendingRetained { continueRetained(broker) } else { false }
        defer {
            // Last, once this turn's writes are out (see `scheduleRetainedTurn`).
            if moreRetained { scheduleRetainedTurn() }
        }
        var batch: UInt64?
        if let durability, durability.broker.hasStoreChanges {
            batch = durability.writer.submit(durability.broker.takeStoreChanges())
        }
        if let durability, let readQueuePage {
            // After the submit: the read waits for this turn's batch, which may hold the messages it asks for.
            for request in durability.broker.takeQueuePageRequests() { readQueuePage(request) }
        }
        shared = SharedPublish()  // lets the message go
        turn &+= 1
        // By index: a for-in's iterator would still hold the array at `removeAll`, which then allocates a new one.
        for index in unflushed.indices {
            let entry = unflushed[index]
            let id = entry.id
            let owned = entry.pending
            let buffer = owned ?? entry.broadcastRun.map(broadcastSlice)
            let waitsForCommit = entry.waitsForCommit
            entry.pending = nil
            entry.broadcastRun = nil
            entry.isUnflushed = false
            entry.waitsForCommit = false
            if let batch, waitsForCommit {
                held[id] = batch
            } else if held.isEmpty || held[id] == nil {
                // One call, hence one task for a channel on another loop.
                if let buffer {
                    entry.channel.writeAndFlush(buffer, promise: nil)
                    if let owned { spareBuffers.keep(owned) }
                } else {
                    entry.channel.flush()
                }
                continue
            }  // else: goes out with the writes held before it
            if let buffer { entry.channel.write(buffer, promise: nil) }
        }
        unflushed.removeAll(keepingCapacity: true)
        // Keeps its storage when the channels have let go of their slices (written at once, on this loop).
        if broadcast.capacity > Self.broadcastKeptCapacity { broadcast = ByteBuffer() } else { broadcast.clear() }
        if publishTemplate.capacity > Self.broadcastKeptCapacity { publishTemplate = ByteBuffer() }
        for (id, channel) in closing {
            if let waitFor = batch ?? held.removeValue(forKey: id) {
                held[id] = nil
                heldCloses.append((channel, waitFor))
            } else {
                Self.flushAndClose(channel)
            }
        }
        closing.removeAll(keepingCapacity: true)
    }

    /// Retained messages of SUBSCRIBEs that are still owed: the next batch for each client whose socket takes more
    /// (one that does not is resumed by `MQTTConnectionHandler.channelWritabilityChanged`). Returns whether some
    /// client got a batch and has more to come: `flushAll` then schedules another turn.
    private func continueRetained(_ broker: Broker) -> Bool {
        var output = self.output
        var more = false
        let now = NIODeadline.now()
        for id in broker.connectionsAwaitingRetained {
            guard let entry = entries[id] else { continue }
            // Read afresh, not as kept for the turn (`isWritable`): this may run because the socket just drained.
            entry.writableTurn = 0
            guard isWritable(id) else { continue }
            if broker.continueRetained(to: id, now: now, output: &output) { more = true }
        }
        return more
    }

    /// Schedules the next batch of retained messages: after a batch, or when a socket that had no room drained.
    ///
    /// A timer due a little later, scheduled once the batch before is written: NIO runs every task that is due
    /// before it polls its sockets again, a task queued with `execute` among them, so a batch that queued the next
    /// one kept every other client of the loop waiting until a subscriber had taken its whole retained set (a
    /// PINGREQ answered after 200,000 messages). A task not yet due lets the loop poll its sockets first; one that
    /// is due all the same before the loop polled (NIO's own work after a task outlasted the pause: debug builds,
    /// a busy machine) waits for the poll (`retainedTurn`).
    func scheduleRetainedTurn() {
        guard !retainedTurnScheduled else { return }
        retainedTurnScheduled = true
        retainedTurn(in: Self.retainedPause, unlessStillIn: ticks.completed)
    }

    /// Runs the retained turn after `pause`, if the loop has finished tick `tick` by then (it has polled its
    /// sockets since the turn was scheduled); otherwise waits twice as long again.
    private func retainedTurn(in pause: TimeAmount, unlessStillIn tick: UInt64) {
        let table = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: pause) {
            let table = table.value
            if table.ticks.completed == tick {
                table.retainedTurn(in: min(pause * 2, Self.longestRetainedPause), unlessStillIn: tick)
                return
            }
            table.retainedTurnScheduled = false
            table.flushAll()
        }
    }

    /// The pause between two batches of retained messages, in which the loop serves its other sockets.
    static let retainedPause = TimeAmount.microseconds(20)
    static let longestRetainedPause = TimeAmount.milliseconds(1)

    /// Every batch up to `batch` is committed: what waited for them goes out.
    func commitCompleted(through batch: UInt64) {
        for (id, waitFor) in held where waitFor <= batch {
            held[id] = nil
            entries[id]?.channel.flush()
        }
        heldCloses.removeAll { close in
            guard close.batch <= batch else { return false }
            Self.flushAndClose(close.channel)
            return true
        }
    }

    /// The commit of the batches up to `batch` failed: what they acknowledged is not kept, so those writes are
    /// never sent; their connections are closed (their clients retry on a new connection).
    func commitFailed(through batch: UInt64) {
        for (id, waitFor) in held where waitFor <= batch {
            held[id] = nil
            entries[id]?.channel.close(promise: nil)
        }
        heldCloses.removeAll { close in
            guard close.batch <= batch else { return false }
            close.channel.close(promise: nil)
            return true
        }
    }

    private static func flushAndClose(_ channel: Channel) {
        // On its own loop, a channel whose flush left nothing buffered (the socket took it all, as it nearly always
        // does) closes at once: the empty write's future and callback below cost 5,000 instructions, 4% of opening
        // and closing a connection.
        if channel.eventLoop.inEventLoop, let options = channel.syncOptions {
            channel.flush()
            if (try? options.getOption(.bufferedWritableBytes)) == 0 {
                channel.close(promise: nil)
                return
            }
        }
        // Close once what was written before has gone out.
        channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// The `BrokerOutput` over this table.
    struct Output: BrokerOutput {
        let table: ConnectionTable

        mutating func send(_ packet: Packet, to connection: ConnectionID) {
            table.send(packet, to: connection)
        }

        mutating func send(_ publish: OutgoingPublish, to connection: ConnectionID) {
            table.send(publish, to: connection)
        }

        mutating func close(_ connection: ConnectionID) {
            table.close(connection)
        }

        mutating func authenticate(_ request: AuthenticationRequest) {
            table.authenticate(request)
        }

        func isWritable(_ connection: ConnectionID) -> Bool {
            table.isWritable(connection)
        }

        mutating func pauseReading(_ connection: ConnectionID) {
            table.holdBack(connection, true)
        }

        mutating func resumeReading(_ connection: ConnectionID) {
            table.holdBack(connection, false)
        }
    }

    /// Publisher flow control: stops or resumes reading the connection, on its handler's loop. On release, the
    /// packets deferred meanwhile are handled in a task of their own (this runs inside the broker's handling of
    /// another packet), before anything read later.
    fileprivate func holdBack(_ id: ConnectionID, _ hold: Bool) {
        guard let entry = entries[id] else { return }
        entry.isHeld = hold
        if !hold && entry.hasDeferred {
            let table = NIOLoopBound(self, eventLoop: loop)
            loop.execute { table.value.receiveDeferred(id) }
        }
        let channel = entry.channel
        entry.withHandler { $0.holdBack(hold, channel: channel) }
    }

    private func receiveDeferred(_ id: ConnectionID) {
        guard let entry = entries[id], !entry.isHeld, entry.hasDeferred else { return }
        var packets = entry.deferred
        let failure = entry.deferredFailure
        entry.deferred = []
        entry.deferredFailure = nil
        receive(&packets, bytes: 0, from: id, protocolVersion: failure?.protocolVersion, clientCertificate: nil,
                failure: failure?.error)
    }

    var output: Output { Output(table: self) }

    /// The most a connection's turn buffer holds before it is written to the channel: beyond it, writing
    /// keeps the memory of one turn bounded and lets the channel's writability see what is waiting.
    static let pendingLimit = 256 * 1024

    /// Encodes a packet into the connection's buffer for this turn.
    fileprivate func send(_ packet: Packet, to id: ConnectionID) {
        guard let entry = entry(id) else { return }
        entry.waitsForCommit = true
        let sent = append(to: entry, id: id, what: packet.type, capacity: { packet.encodedSize(version: $0) }) {
            buffer, version throws(MQTTEncodingError) in
            try packet.encode(into: &buffer, version: version)
        }
        if sent, case .connack(let connack) = packet { logOutcome(of: connack, id: id, entry: entry) }
    }

    /// Encodes a PUBLISH into the connection's buffer for this turn, straight from its message.
    fileprivate func send(_ publish: OutgoingPublish, to id: ConnectionID) {
        guard let entry = entry(id) else { return }
        if publish.qos != .atLeastOnce { entry.waitsForCommit = true }
        let version = entry.protocolVersion
        if publish.isSameButForPacketIdentifier, shared.key == SharedPublish.Key(publish, version: version) {
            if let packetIdentifier = publish.packetIdentifier {
                sendFromTemplate(publish, packetIdentifier: packetIdentifier, to: entry, id: id)
                return
            }
            if shared.range == nil {
                let start = broadcast.writerIndex
                let encoded = encodeOrRollBack(into: &broadcast, what: .publish, for: id) {
                    buffer throws(MQTTEncodingError) in try publish.encode(into: &buffer, version: version)
                }
                guard encoded else { return }
                shared.range = start..<broadcast.writerIndex
            }
            appendBroadcast(shared.range!, to: entry, id: id)
            return
        }
        appendEncoded(publish, to: entry, id: id)
    }

    /// Encodes the PUBLISH into the connection's buffer for this turn; a message that others may get as the same
    /// bytes becomes `shared`.
    @inline(__always)
    private func appendEncoded(_ publish: OutgoingPublish, to entry: Entry, id: ConnectionID) {
        // A closure, not the method `publish.encodedSize`: a method reference captures a copy of `publish` (a
        // retain and a release of its message and properties per delivery).
        append(to: entry, id: id, what: .publish, capacity: { publish.encodedSize(version: $0) }) {
            buffer, version throws(MQTTEncodingError) in
            try publish.encode(into: &buffer, version: version)
            if publish.isSameButForPacketIdentifier {
                shared = SharedPublish(message: publish.message, key: SharedPublish.Key(publish, version: version))
            }
        }
    }

    /// Sends a QoS 1 or 2 PUBLISH of `shared` as a copy of `publishTemplate` with the subscriber's packet
    /// identifier; encodes the template first for the message's second subscriber.
    private func sendFromTemplate(_ publish: OutgoingPublish, packetIdentifier: UInt16, to entry: Entry,
                                  id: ConnectionID)
    {
        var offset = shared.identifierOffset
        if offset == nil {
            let version = entry.protocolVersion
            publishTemplate.clear()
            let encoded = encodeOrRollBack(into: &publishTemplate, what: .publish, for: id) {
                buffer throws(MQTTEncodingError) in try publish.encode(into: &buffer, version: version)
            }
            guard encoded, let found = PublishPacket.packetIdentifierOffset(ofPacketAt: 0, in: publishTemplate)
            else {
                appendEncoded(publish, to: entry, id: id)  // logs why it cannot be encoded, if it cannot
                return
            }
            offset = found
            shared.identifierOffset = found
        }
        let template = publishTemplate
        let identifierOffset = offset!
        append(to: entry, id: id, what: .publish, capacity: { _ in template.readableBytes }) { buffer, _ in
            PublishPacket.writeCopy(of: template, packetIdentifier: packetIdentifier, at: identifierOffset,
                                    into: &buffer)
        }
    }

    /// Adds the bytes at `range` of `broadcast` to what the connection gets in this turn: by extending its run of
    /// `broadcast` when they follow it (or start one), else as a copy into its own buffer.
    private func appendBroadcast(_ range: Range<Int>, to entry: Entry, id: ConnectionID) {
        guard entry.pending == nil, entry.broadcastRun == nil || entry.broadcastRun!.upperBound == range.lowerBound
        else {
            append(to: entry, id: id, what: .publish, capacity: { _ in range.count }) { buffer, _ in
                buffer.writeImmutableBuffer(broadcastSlice(range))
            }
            return
        }
        let run = (entry.broadcastRun?.lowerBound ?? range.lowerBound)..<range.upperBound
        entry.broadcastRun = run
        traffic.packetsSent += 1
        traffic.bytesSent += range.count
        if run.count >= Self.pendingLimit { writePending(id) }
        markUnflushed(entry)
    }

    private func broadcastSlice(_ range: Range<Int>) -> ByteBuffer {
        broadcast.getSlice(at: range.lowerBound, length: range.count)!
    }

    /// Runs `encode` on the connection's buffer for this turn. Packets to one connection are coalesced:
    /// `flushAll` writes the buffer to the channel once, so a turn costs one buffer (most often one reused from
    /// an earlier turn: `SpareBuffers`), one pipeline write and one iovec per connection instead of one per
    /// packet (in fan-in, a subscriber gets hundreds per turn).
    /// Returns whether the packet was encoded; one that cannot be is logged and left out.
    @inline(__always) @discardableResult
    private func append(
        to entry: Entry, id: ConnectionID, what type: PacketType, capacity: (ProtocolVersion) -> Int,
        _ encode: (inout ByteBuffer, ProtocolVersion) throws(MQTTEncodingError) -> Void
    ) -> Bool {
        let version = entry.protocolVersion
        if entry.pending == nil {
            entry.pending = spareBuffers.take(capacity: max(1024, capacity(version)),
                                              allocator: entry.channel.allocator)
            // A run of `broadcast` so far: copied first, so that this packet follows it.
            if let run = entry.broadcastRun {
                entry.broadcastRun = nil
                entry.pending!.writeImmutableBuffer(broadcastSlice(run))
            }
        }
        // Encoded in place, through the entry's property: taking the buffer out to write to it and putting it back
        // cost a retain and a release of its storage per packet. (In fan-out that release showed as 13% of the
        // CPU, but it was where the cache miss on the subscriber's buffer surfaced: the miss stays, the rate did
        // not move.)
        let start = entry.pending!.writerIndex
        let encoded = encodeOrRollBack(into: &entry.pending!, what: type, for: id) {
            buffer throws(MQTTEncodingError) in try encode(&buffer, version)
        }
        guard encoded else { return false }
        traffic.packetsSent += 1
        traffic.bytesSent += entry.pending!.writerIndex - start
        if entry.pending!.readableBytes >= Self.pendingLimit { writePending(id) }
        markUnflushed(entry)
        return true
    }

    /// Runs `encode` at the end of `buffer`. A packet that cannot be encoded is logged and left out: `buffer` is
    /// as it was.
    @inline(__always)
    private func encodeOrRollBack(into buffer: inout ByteBuffer, what type: PacketType, for id: ConnectionID,
                                  _ encode: (inout ByteBuffer) throws(MQTTEncodingError) -> Void) -> Bool
    {
        let start = buffer.writerIndex
        do {
            try encode(&buffer)
            return true
        } catch {
            buffer.moveWriterIndex(to: start)
            logger.error("cannot encode \(type) for connection \(id): \(error)")
            return false
        }
    }

    /// Lists the connection for `flushAll` once per turn, however the packets to different connections interleave
    /// (fan-out: each message goes to every subscriber in turn): one write and one flush per connection.
    private func markUnflushed(_ entry: Entry) {
        if !entry.isUnflushed {
            entry.isUnflushed = true
            unflushed.append(entry)
        }
    }

    /// Logs the outcome of a CONNECT.
    private func logOutcome(of connack: ConnAckPacket, id: ConnectionID, entry: Entry) {
        if let accepted = broker?.clientID(of: id)?.string {
            entry.clientIdentifier = accepted
            entry.withHandler { $0.clientID = accepted }
        }
        let client = entry.clientIdentifier ?? ""
        if connack.reasonCode == .success {
            entry.logger.info("client \(client) connected from \(entry.remoteAddress) (MQTT \(entry.protocolVersion))")
        } else {
            entry.logger.info("""
                client \(client) refused from \(entry.remoteAddress) (MQTT \(entry.protocolVersion)): \(connack.reasonCode)
                """)
        }
    }

    /// Writes (without flushing) what was encoded for the connection in this turn.
    private func writePending(_ id: ConnectionID) {
        guard let entry = entry(id), let buffer = entry.pending ?? entry.broadcastRun.map(broadcastSlice) else {
            return
        }
        entry.pending = nil
        entry.broadcastRun = nil
        entry.channel.write(buffer, promise: nil)
        entry.writableTurn = 0  // the write may have made the channel unwritable
    }

    /// Whether the connection's channel takes more writes (the broker asks once per QoS 0 delivery). The answer
    /// is kept for the rest of the turn: writability changes as written bytes leave, between turns, or when
    /// `writePending` writes a full buffer, so asking NIO once per delivery (a fan-out message asks once per
    /// subscriber) bought nothing. With `event_loops` above 1 the channel's loop may drain it meanwhile; it is
    /// then seen one turn later.
    fileprivate func isWritable(_ id: ConnectionID) -> Bool {
        // Asked again in the same turn (a batch of retained messages asks per message): answered from the last
        // lookup's fields, without `entry(_:)`'s retain and release of the entry.
        if let entry = lastLookup, entry.id == id, entry.writableTurn == turn { return entry.writable }
        guard let entry = entry(id) else { return true }
        if entry.writableTurn != turn {
            entry.writable = entry.channel.isWritable
            entry.writableTurn = turn
        }
        return entry.writable
    }

    /// Runs the listener's authenticator on the thread pool and hands the result back on the event loop.
    fileprivate func authenticate(_ connect: AuthenticationRequest) {
        guard let entry = entries[connect.connection] else { return }
        guard let authenticator = entry.authenticator else {
            authenticationCompleted?(connect.connection, .accepted(username: connect.username))
            return
        }
        if connect.authenticationMethod != nil {
            return exchangeStep(connect, entry: entry, authenticator: authenticator)
        }
        var withCertificate = connect
        withCertificate.clientCertificate = entry.clientCertificate
        let request = withCertificate
        // Answered here when no password is to be verified (an anonymous client, a certificate's user): the hop
        // to the thread pool and back cost two thread wake-ups per connection.
        if let outcome = authenticator.authenticateWithoutHashing(request) {
            return finishAuthentication(request, outcome)
        }
        let table = NIOLoopBound(self, eventLoop: loop)
        threadPool.runIfActive(eventLoop: loop) {
            authenticator.authenticate(request)
        }.whenComplete { result in
            let table = table.value
            switch result {
            case .success(let outcome):
                table.finishAuthentication(request, outcome)
            case .failure(let error):
                table.logger.error("authentication of connection \(request.connection) failed: \(error)")
                table.authenticationCompleted?(request.connection, .refused(.serverUnavailable))
            }
            table.flushAll()
        }
    }

    private func finishAuthentication(_ request: AuthenticationRequest, _ outcome: AuthenticationResult) {
        if case .refused(let reasonCode) = outcome {
            authenticationFailures += 1
            // Never the password.
            logger.notice("""
                client '\(request.clientIdentifier)' refused (\(reasonCode)), user \
                \(request.username.map { "'\($0)'" } ?? "none"), connection \(request.connection)
                """)
        }
        authenticationCompleted?(request.connection, outcome)
    }

    /// One step of an enhanced authentication exchange: a new exchange for CONNECT and AUTH 0x19, the one
    /// waiting for AUTH 0x18 otherwise. Runs on the thread pool; the exchange waits in the entry between steps.
    private func exchangeStep(_ request: AuthenticationRequest, entry: Entry,
                              authenticator: any ConnectionAuthenticator)
    {
        let id = request.connection
        let waiting = entries[id]?.exchange
        entries[id]?.exchange = nil
        let exchange = request.stage == .continuation ? waiting : authenticator.makeExchange(for: request)
        guard let exchange else {
            let method = request.authenticationMethod ?? ""
            logger.notice("client '\(request.clientIdentifier)' refused: authentication method '\(method)' not offered")
            authenticationFailures += 1
            authenticationCompleted?(id, .refused(.badAuthenticationMethod))
            return
        }
        let table = NIOLoopBound(self, eventLoop: loop)
        threadPool.runIfActive(eventLoop: loop) { () -> (any AuthenticationExchange, AuthenticationResult) in
            var working = exchange
            let result = working.receive(request.authenticationData)
            return (working, result)
        }.whenComplete { outcome in
            let table = table.value
            switch outcome {
            case .success(let step):
                let (exchange, result) = step
                switch result {
                case .continueAuthentication:
                    table.entries[id]?.exchange = exchange
                case .refused(let reasonCode):
                    table.authenticationFailures += 1
                    table.logger.notice("""
                        client '\(request.clientIdentifier)' refused (\(reasonCode)), connection \(id): \
                        \(exchange.refusal ?? "enhanced authentication failed")
                        """)
                case .accepted:
                    break
                }
                table.authenticationCompleted?(id, result)
            case .failure(let error):
                table.logger.error("authentication of connection \(id) failed: \(error)")
                table.authenticationCompleted?(id, .refused(.serverUnavailable))
            }
            table.flushAll()
        }
    }

    fileprivate func close(_ id: ConnectionID) {
        writePending(id)  // what was sent before the close goes out before it
        guard let entry = entries.removeValue(forKey: id) else { return }
        entry.isOpen = false
        if lastLookup?.id == id { lastLookup = nil }
        entry.withHandler { $0.closeRequested() }
        if durability != nil {
            closing.append((id, entry.channel))  // flushAll decides whether it waits for a commit
        } else {
            Self.flushAndClose(entry.channel)
        }
    }
}
