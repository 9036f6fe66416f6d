import Foundation
import Logging
import MQTTCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TernBroker

/// Runs the broker on TCP, TLS, WebSocket and secure WebSocket listeners. The broker core lives on one event
/// loop, so it needs no locks. With one loop its connections live there too; with `eventLoops` N above 1 they are
/// spread over N - 1 loops of their own, which read, decode and write their sockets and hand their packets to the
/// broker's loop once per read.
public final class MQTTServer: Sendable {
    /// A host and port to listen on (port 0 picks a free port), who may connect there, and how.
    public struct Listener: Sendable {
        public var host: String
        public var port: Int
        /// Checks every CONNECT on this listener; nil lets every client in.
        public var authenticator: (any ConnectionAuthenticator)?
        /// TLS, WebSocket and the connection limit; nil for plain TCP without a limit.
        public var transport: ListenerTransport?
        /// The listener's own client identifier rules (`per_listener_settings`); nil uses the broker's.
        public var clientIdentifiers: ClientIdentifierRules?
        /// The listener's own Maximum QoS and Topic Alias Maximum (`max_qos`, `max_topic_alias`); nil uses the
        /// broker's.
        public var protocolLimits: ListenerProtocolLimits?

        public init(host: String, port: Int, authenticator: (any ConnectionAuthenticator)? = nil,
                    transport: ListenerTransport? = nil, clientIdentifiers: ClientIdentifierRules? = nil,
                    protocolLimits: ListenerProtocolLimits? = nil)
        {
            self.host = host
            self.port = port
            self.authenticator = authenticator
            self.transport = transport
            self.clientIdentifiers = clientIdentifiers
            self.protocolLimits = protocolLimits
        }
    }

    private let group: MultiThreadedEventLoopGroup
    private let threadPool: NIOThreadPool
    let loop: EventLoop
    let state: NIOLoopBoundBox<State>
    private let logger: Logger
    private let connectionLogger: Logger
    let channels: NIOLockedValueBox<[Channel]> = NIOLockedValueBox([])
    private let store: (any BrokerStore & Sendable)?
    private let writer: StoreWriter?
    /// Queued messages per stored session loaded at start-up (`BrokerSettings.queuePageSize`).
    private let queuePageSize: Int
    private let limits: ConnectionLimits
    private let ids = ConnectionIDs()
    /// The loops that carry connections when there are more than one; nil when the broker's loop carries them.
    private let connectionGroup: MultiThreadedEventLoopGroup?
    private let maximumPacketSize: Int

    final class State {
        let broker: Broker
        let table: ConnectionTable
        var tickTask: RepeatedTask?
        /// Returns freed heap memory to the operating system now and then (`HeapTrim`).
        var heapTrimTask: RepeatedTask?
        /// `$SYS` topics; nil when `sys_interval` is 0.
        var systemTopics: SystemTopicPublisher?
        /// Queue-limit drops already logged.
        var loggedQueueDrops = 0

        init(broker: Broker, table: ConnectionTable) {
            self.broker = broker
            self.table = table
        }
    }

    /// The sizes of a connection's read buffers: 256 bytes at first (most CONNECTs fit), doubled after a read that
    /// fills one, up to 64 KB, and halved again after two reads that use less than half.
    static let readBufferSizes = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536)

    /// A server whose broker keeps its state in `store` (nil: in memory only). Changes are committed by one
    /// writer thread; `commitWindow` is how long it waits for more changes to join a commit.
    /// `connectionMessages`: whether each connect and disconnect is logged (Mosquitto's `connection_messages`);
    /// when false they are logged at debug level only.
    /// `limits`: the per-connection socket limits (read rates, write buffer).
    /// `eventLoops`: the threads for the network: with 1, the broker's loop carries every connection; with N
    /// above 1, connections are spread over N - 1 other loops.
    public init(settings: BrokerSettings, logger: Logger, connectionMessages: Bool = true,
                store: (any BrokerStore & Sendable)? = nil, commitWindow: TimeAmount = .zero,
                limits: ConnectionLimits = ConnectionLimits(), eventLoops: Int = 1)
    {
        self.limits = limits
        self.maximumPacketSize = settings.maximumPacketSize
        let ticks = EventLoopTicks()
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1, metricsDelegate: ticks)
        // With several loops, the broker's has no connections of its own: NIO runs every task queued on a loop
        // before it reads sockets again, so the reads that the other loops hand over, one task each, would keep
        // its own sockets waiting under load.
        self.connectionGroup = eventLoops > 1 ? MultiThreadedEventLoopGroup(numberOfThreads: eventLoops - 1) : nil
        self.queuePageSize = settings.queuePageSize
        let loop = group.next()
        self.loop = loop
        self.logger = logger
        var connectionLogger = logger
        if !connectionMessages && connectionLogger.logLevel < .notice { connectionLogger.logLevel = .notice }
        self.connectionLogger = connectionLogger
        self.threadPool = NIOThreadPool(numberOfThreads: 1)
        threadPool.start()
        let broker = Broker(settings: settings)
        let table = ConnectionTable(logger: logger, threadPool: threadPool, loop: loop, ticks: ticks)
        table.broker = broker
        let state = NIOLoopBoundBox.makeBoxSendingValue(State(broker: broker, table: table), eventLoop: loop)
        self.state = state
        self.store = store
        self.writer = store.map { store in
            StoreWriter(store: store, commitWindow: commitWindow) { outcome in
                loop.execute {
                    let value = state.value
                    switch outcome {
                    case .committed(let batch):
                        if !value.broker.acceptsDurableMessages {
                            logger.notice("the store accepts commits again")
                            value.broker.acceptsDurableMessages = true
                        }
                        value.table.commitCompleted(through: batch)
                    case .failed(let batch, let error):
                        if value.broker.acceptsDurableMessages {
                            logger.error("""
                                cannot commit to the store: \(error); QoS 1 and 2 publications are refused \
                                until it accepts commits again
                                """)
                            value.broker.acceptsDurableMessages = false
                        }
                        value.table.commitFailed(through: batch)
                    }
                }
            }
        }
    }

    /// Loads the store into the broker; called before any listener opens.
    private func restore() async throws {
        guard let store, let writer else { return }
        let started = ContinuousClock.now
        let stored = try store.load(queueHeadLimit: queuePageSize)
        let loaded = ContinuousClock.now - started
        let state = self.state, logger = self.logger, loop = self.loop
        writer.start()
        try await loop.submit {
            let value = state.value
            let now = NIODeadline.now()
            value.broker.recordsStoreChanges = true
            value.broker.storeClock = StoreClock(
                now: now, wallClockNow: Int64(Date().timeIntervalSince1970 * 1000))
            value.table.durability = (value.broker, writer)
            value.table.readQueuePage = { request in
                Self.readQueuePage(request, writer: writer, state: state, loop: loop, logger: logger)
            }
            var output = value.table.output
            value.broker.restore(stored, now: now, output: &output)
            value.table.flushAll()
        }.get()
        logger.notice("""
            restored \(stored.sessions.count) sessions and \(stored.retained.count) retained messages in \
            \(ContinuousClock.now - started) (read in \(loaded))
            """)
    }

    /// Reads a page of a stored queue on the store writer and hands it to the broker on the event loop; a failed
    /// read is tried again a second later (the messages stay counted, and in the store).
    private static func readQueuePage(_ request: QueuePageRequest, writer: StoreWriter,
                                      state: NIOLoopBoundBox<State>, loop: any EventLoop, logger: Logger)
    {
        writer.readQueuePage(request) { result in
            loop.execute {
                let value = state.value
                switch result {
                case .success(let messages):
                    var output = value.table.output
                    value.broker.receiveQueuePage(request, messages: messages, now: .now(), output: &output)
                    value.table.flushAll()
                case .failure(let error):
                    logger.error("cannot read the queue of \(request.clientID) from the store: \(error)")
                    loop.scheduleTask(in: .seconds(1)) {
                        readQueuePage(request, writer: writer, state: state, loop: loop, logger: logger)
                    }
                }
            }
        }
    }

    /// Binds every listener; returns the addresses actually bound (with the chosen port when 0 was asked).
    /// A listener whose address cannot be bound (an IPv6 loopback on a host without IPv6) is skipped with a
    /// warning as long as another one could be bound.
    public func start(listeners: [Listener]) async throws -> [SocketAddress] {
        try await restore()
        let state = self.state
        let logger = self.logger
        let connectionLogger = self.connectionLogger
        try await loop.submit {
            let value = state.value
            value.table.authenticationCompleted = { [unowned value] id, result in
                var output = value.table.output
                value.broker.authenticationCompleted(id, result: result, now: .now(), output: &output)
            }
        }.get()
        var bound: [SocketAddress] = []
        var lastError: Error?
        var port: Int?
        for listener in listeners {
            do {
                // Listeners given with port 0 share the first port chosen, as `tern serve -p 0` binds both
                // loopback addresses on one port.
                let chosenPort = listener.port == 0 ? (port ?? 0) : listener.port
                let transport = listener.transport ?? ListenerTransport()
                let connections = MQTTConnectionHandler.Listener(
                    server: state, brokerLoop: self.loop, ids: self.ids, maximumPacketSize: self.maximumPacketSize,
                    authenticator: listener.authenticator, clientIdentifiers: listener.clientIdentifiers,
                    protocolLimits: listener.protocolLimits, limits: self.limits, logger: connectionLogger)
                let limits = self.limits
                var bootstrap = ServerBootstrap(group: group, childGroup: connectionGroup ?? group)
                if listener.host.contains(":") {
                    // IPv6 only, so that `::` and `0.0.0.0` can both be bound on one port, as Mosquitto does.
                    bootstrap = bootstrap.serverChannelOption(
                        ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 1)
                }
                // Accepted sockets inherit the listening socket's TCP_NODELAY (which NIO sets on it) and
                // SO_KEEPALIVE on Linux: no setsockopt per connection. The two channel options below are set in the
                // initializer rather than as child options, which NIO applies through a chain of futures (four
                // allocations each).
                let waterMark = ChannelOptions.Types.WriteBufferWaterMark(low: limits.writeBuffer / 2,
                                                                          high: limits.writeBuffer)
                let channel = try await bootstrap
                    .serverChannelOption(.backlog, value: 256)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .serverChannelOption(.socketOption(.so_keepalive), value: 1)
                    .serverChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                AcceptPause(logger: logger))
                        }
                    }
                    .childChannelInitializer { channel in
                        do {
                            if let options = channel.syncOptions {
                                // NIO keeps each connection's last read buffer for the next read: 2 KB by default,
                                // a third of an idle connection's memory. A CONNECT or PINGREQ needs far less, and
                                // a busy connection's buffer doubles with each full read up to the same 64 KB.
                                try options.setOption(.recvAllocator, value: Self.readBufferSizes)
                                // A client that does not read is a slow consumer once this much waits for its
                                // socket.
                                try options.setOption(.writeBufferWaterMark, value: waterMark)
                            }
                            try transport.configure(channel, logger: logger) {
                                MQTTConnectionHandler(listener: connections)
                            }
                            // The loop's one succeeded future, where `makeCompletedFuture` allocates one per
                            // connection.
                            return channel.eventLoop.makeSucceededVoidFuture()
                        } catch {
                            return channel.eventLoop.makeFailedFuture(error)
                        }
                    }
                    .bind(host: listener.host, port: chosenPort).get()
                channels.withLockedValue { $0.append(channel) }
                if let address = channel.localAddress {
                    bound.append(address)
                    if listener.port == 0 && port == nil { port = address.port }
                    logger.notice("listening on \(Self.display(address))\(transport.summary)")
                }
            } catch {
                lastError = error
                logger.warning("cannot listen on \(listener.host):\(listener.port): \(error)")
            }
        }
        if bound.isEmpty { throw lastError ?? ChannelError.inappropriateOperationForState }
        let loop = self.loop
        let threadPool = self.threadPool
        HeapTrim.deferTrimmingToTimer()
        try await loop.submit {
            state.value.heapTrimTask = loop.scheduleRepeatedTask(initialDelay: .seconds(5), delay: .seconds(5)) { _ in
                threadPool.submit { _ in HeapTrim.releaseFreeMemory() }
            }
            state.value.tickTask = loop.scheduleRepeatedTask(initialDelay: .milliseconds(250),
                                                             delay: .milliseconds(250)) { _ in
                let state = state.value
                var output = state.table.output
                let now = NIODeadline.now()
                state.broker.tick(now: now, output: &output)
                state.publishSystemTopicsIfDue(now: now, output: &output)
                state.table.flushAll()
                let drops = state.broker.statistics.queuedMessagesDropped
                if drops > state.loggedQueueDrops {
                    logger.warning("""
                        \(drops - state.loggedQueueDrops) messages dropped: queue limits reached \
                        (max_queued_messages, max_queued_bytes, max_queued_messages_total); \(drops) in all
                        """)
                    state.loggedQueueDrops = drops
                }
            }
        }.get()
        return bound
    }

    /// Applies security files reloaded into the listeners' authenticators to the clients already connected:
    /// their access rules are compiled anew, and those no longer allowed in are disconnected.
    public func reauthorizeConnectedClients() async throws {
        let state = self.state
        try await loop.submit {
            let value = state.value
            var output = value.table.output
            value.broker.reauthorize(now: .now(), output: &output) { id, _, username in
                value.table.authenticator(of: id)?.reauthorize(username: username) ?? .accepted(username: username)
            }
            value.table.flushAll()
        }.get()
    }

    /// Stops accepting, tells MQTT 5 clients the server is shutting down (DISCONNECT 0x8B, with no wills
    /// published), closes every connection and stops the event loop.
    public func shutdown() async throws {
        for channel in channels.withLockedValue({ $0 }) {
            try? await channel.close()
        }
        try await loop.submit {
            let state = self.state.value
            state.tickTask?.cancel()
            state.heapTrimTask?.cancel()
            var output = state.table.output
            state.broker.shutdown(output: &output)
            state.table.flushAll()
        }.get()
        // What the last turns changed is committed before the process ends.
        if let writer {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Thread {
                    writer.stop()
                    continuation.resume()
                }.start()
            }
        }
        // Give the close writes a moment to leave, bounded.
        try? await loop.scheduleTask(in: .milliseconds(100)) {}.futureResult.get()
        try await connectionGroup?.shutdownGracefully()
        try await group.shutdownGracefully()
        try await threadPool.shutdownGracefully()
    }

    /// `host:port`, `[host]:port` for IPv6, as logs and the admin API show a connection's address.
    static func display(_ address: SocketAddress) -> String {
        switch address {
        case .v4(let ipv4):
            // Formatted here, digit by digit into the string's own storage: `ipAddress` goes through inet_ntop and
            // sprintf (3,600 instructions, 2% of opening and closing a connection), and string interpolation of the
            // five numbers took 2,400.
            let host = UInt32(bigEndian: ipv4.address.sin_addr.s_addr)
            let port = UInt32(UInt16(bigEndian: ipv4.address.sin_port))
            return String(unsafeUninitializedCapacity: 21) { out in  // 255.255.255.255:65535
                var index = 0
                func put(_ value: UInt32, then separator: UInt8?) {
                    var divisor: UInt32 = 1
                    while divisor <= value / 10 { divisor *= 10 }
                    repeat {
                        out[index] = UInt8(ascii: "0") + UInt8(value / divisor % 10)
                        index += 1
                        divisor /= 10
                    } while divisor > 0
                    if let separator {
                        out[index] = separator
                        index += 1
                    }
                }
                put(host >> 24, then: UInt8(ascii: "."))
                put(host >> 16 & 0xFF, then: UInt8(ascii: "."))
                put(host >> 8 & 0xFF, then: UInt8(ascii: "."))
                put(host & 0xFF, then: UInt8(ascii: ":"))
                put(port, then: nil)
                return index
            }
        case .v6: return "[\(address.ipAddress ?? "?")]:\(address.port ?? 0)"
        default: return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        }
    }
}
