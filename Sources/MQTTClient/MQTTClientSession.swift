import MQTTCore
import NIOCore
import NIOPosix
import NIOSSL

/// The client's session on its event loop: it owns the ``MQTTConnectionStateMachine``, opens network connections,
/// performs the machine's actions (writes, completions, message delivery), runs the keep-alive timer and, when
/// configured, reconnects. Everything here runs on `eventLoop` only.
///
/// `@unchecked Sendable`: the session is only reached by hopping to `eventLoop` (in `MQTTClient`) or from callbacks
/// NIO runs on `eventLoop` (channel handlers, scheduled tasks, future callbacks of this loop's futures), so its
/// mutable state is never touched from two threads.
final class MQTTClientSession: @unchecked Sendable {
    typealias Completion = MQTTConnectionStateMachine.Completion
    typealias MessageContinuation = AsyncThrowingStream<MQTTMessage, any Error>.Continuation

    /// A live subscription stream: the filters it was made with and where its messages go.
    struct Sink {
        var subscriptions: [Subscription]
        var properties: Properties
        /// The filters to match topic names against (the part after `$share/NAME/` for shared subscriptions).
        var matchFilters: [String]
        /// The Subscription Identifier sent with the subscription (MQTT 5.0): messages carrying it are routed by it.
        var subscriptionIdentifier: UInt32?
        var continuation: MessageContinuation
        /// Counts what the consumer has not taken yet.
        var buffer: SubscriptionBuffer
    }

    let eventLoop: any EventLoop
    let configuration: MQTTClientConfiguration
    private var machine: MQTTConnectionStateMachine
    private var channel: (any Channel)?
    private var nextRequest: UInt64 = 1
    private var pending: [UInt64: EventLoopPromise<Completion>] = [:]
    private var sinks: [UInt64: Sink] = [:]
    private var connectPromise: EventLoopPromise<MQTTConnectResult>?
    private var connectTimeout: Scheduled<Void>?
    private var keepAliveTask: RepeatedTask?
    private var reconnectTask: Scheduled<Void>?
    private var reconnectDelay: TimeAmount
    /// Set once the application connected successfully; reconnection happens only after that.
    private var everConnected = false
    /// Set by `disconnect` and `shutdown`: no reconnection, streams end.
    private var closedByApplication = false
    private var closeReason: MQTTClientError?
    private(set) var clientIdentifier: String
    /// The CONNACK properties of the current connection.
    private(set) var serverProperties: Properties = []
    private var encodeBuffer: ByteBuffer
    /// True while the channel handler delivers a read: writes are flushed once at the end of the read.
    var reading = false
    /// Streams that are full: while there is one, the socket is not read (TCP pushes back on the server).
    private var fullSinks: Set<UInt64> = []

    init(eventLoop: any EventLoop, configuration: MQTTClientConfiguration) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.machine = MQTTConnectionStateMachine(
            settings: .init(protocolVersion: configuration.protocolVersion,
                            receiveMaximum: configuration.receiveMaximum,
                            topicAliasMaximum: configuration.protocolVersion.hasProperties
                                ? configuration.topicAliasMaximum : 0,
                            sendsTopicAliases: configuration.sendsTopicAliases,
                            queuesWhileDisconnected: configuration.reconnection != nil,
                            authenticator: configuration.protocolVersion.hasProperties
                                ? configuration.authenticator : nil))
        self.reconnectDelay = configuration.reconnection?.initialDelay ?? .zero
        self.clientIdentifier = configuration.clientIdentifier
        self.encodeBuffer = ByteBufferAllocator().buffer(capacity: 256)
    }

    var isConnected: Bool { machine.state == .connected }

    // MARK: Application requests

    func connect() -> EventLoopFuture<MQTTConnectResult> {
        eventLoop.preconditionInEventLoop()
        if connectPromise != nil || machine.state != .disconnected {
            return eventLoop.makeFailedFuture(MQTTClientError.invalidArgument(.protocolError, "already connected"))
        }
        closedByApplication = false
        let promise = eventLoop.makePromise(of: MQTTConnectResult.self)
        connectPromise = promise
        openConnection()
        return promise.futureResult
    }

    func publish(_ packet: PublishPacket) -> EventLoopFuture<Completion> {
        request { machine, id, now in machine.publish(packet, request: id, now: now) }
    }

    /// Subscribes and returns the stream of messages matching `subscriptions`, with the SUBACK's reason codes.
    func subscribe(_ subscriptions: [Subscription], properties: Properties)
        -> EventLoopFuture<(UInt64, MQTTSubscribeResult, AsyncThrowingStream<MQTTMessage, any Error>,
                            SubscriptionBuffer)>
    {
        let (stream, continuation) = AsyncThrowingStream<MQTTMessage, any Error>.makeStream()
        let sinkID = nextRequest
        nextRequest += 1
        let weakSelf = NIOLoopBound(WeakSession(self), eventLoop: eventLoop)
        let loop = eventLoop
        let buffer = SubscriptionBuffer(limit: configuration.subscriptionBufferLimit) {
            loop.execute { weakSelf.value.session?.sinkDrained(sinkID) }
        }
        var properties = properties
        // MQTT 5.0: tag the subscription with an identifier so that overlapping subscriptions (which the server may
        // answer with one copy each) route each copy to its own stream only.
        if configuration.protocolVersion.hasProperties, properties.subscriptionIdentifiers.isEmpty,
            serverProperties.subscriptionIdentifierAvailable != false
        {
            properties.subscriptionIdentifiers = [UInt32(truncatingIfNeeded: sinkID % 268_435_455) + 1]
        }
        // Registered before SUBSCRIBE is sent so that retained messages right after the SUBACK are not missed.
        sinks[sinkID] = Sink(subscriptions: subscriptions, properties: properties,
                             matchFilters: subscriptions.map { Self.matchFilter($0.topicFilter) },
                             subscriptionIdentifier: properties.subscriptionIdentifiers.first,
                             continuation: continuation, buffer: buffer)
        continuation.onTermination = { _ in
            loop.execute {
                weakSelf.value.session?.sinks[sinkID] = nil
                weakSelf.value.session?.sinkDrained(sinkID)
            }
        }
        return request { machine, id, now in
            machine.subscribe(subscriptions, properties: properties, request: id, now: now)
        }.flatMapThrowing { completion in
            switch completion {
            case .subscribed(let result):
                return (sinkID, result, stream, buffer)
            case .failed(let error):
                self.sinks[sinkID] = nil
                continuation.finish(throwing: error)
                throw error
            case .published, .unsubscribed, .reauthenticated:
                preconditionFailure("SUBSCRIBE completed as \(completion)")
            }
        }
    }

    func reauthenticate() -> EventLoopFuture<Completion> {
        request { machine, id, now in machine.reauthenticate(request: id, now: now) }
    }

    func unsubscribe(_ topicFilters: [String], properties: Properties, endingStream sinkID: UInt64?)
        -> EventLoopFuture<Completion>
    {
        if let sinkID, let sink = sinks.removeValue(forKey: sinkID) { sink.continuation.finish() }
        // Streams whose filters are all unsubscribed end too.
        let removed = Set(topicFilters)
        for (id, sink) in sinks where sink.subscriptions.allSatisfy({ removed.contains($0.topicFilter) }) {
            sinks[id] = nil
            sink.continuation.finish()
        }
        return request { machine, id, now in
            machine.unsubscribe(topicFilters, properties: properties, request: id, now: now)
        }
    }

    func disconnect(_ packet: DisconnectPacket) -> EventLoopFuture<Void> {
        closedByApplication = true
        reconnectTask?.cancel()
        reconnectTask = nil
        guard let channel else {
            finishStreams(nil)
            failAllRequests(.notConnected)
            return eventLoop.makeSucceededVoidFuture()
        }
        perform(machine.disconnect(packet, now: .now()))
        return channel.close().recover { _ in }
    }

    private func request(_ body: (inout MQTTConnectionStateMachine, UInt64, NIODeadline)
        -> MQTTConnectionStateMachine.Action) -> EventLoopFuture<Completion>
    {
        eventLoop.preconditionInEventLoop()
        let id = nextRequest
        nextRequest += 1
        let promise = eventLoop.makePromise(of: Completion.self)
        pending[id] = promise
        perform(body(&machine, id, .now()))
        return promise.futureResult
    }

    // MARK: Network connection

    private func openConnection() {
        let configuration = self.configuration
        let bootstrap = ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(configuration.connectTimeout)
            .channelInitializer { [self] channel in
                do {
                    try MQTTChannelPipeline.configure(channel, configuration: configuration,
                                                      handler: MQTTClientChannelHandler(session: self),
                                                      upgradeFailed: { self.connectionFailed($0) })
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        connectTimeout?.cancel()
        connectTimeout = eventLoop.scheduleTask(in: configuration.connectTimeout) { [self] in
            if machine.state != .connected { connectionFailed(.timeout) }
        }
        bootstrap.connect(host: configuration.host, port: configuration.port).whenComplete { [self] result in
            switch result {
            case .success(let channel):
                if self.channel == nil && closedByApplication { channel.close(promise: nil) }
            case .failure(let error):
                connectionFailed(.connectionClosed(Self.describe(error, configuration: configuration)))
            }
        }
    }

    /// The transport failed (TLS handshake, WebSocket upgrade, I/O error): remember why for the close that follows.
    func transportFailed(_ channel: any Channel, error: any Error) {
        if self.channel === channel || self.channel == nil {
            closeReason = closeReason ?? .connectionClosed(Self.describe(error, configuration: configuration))
        }
    }

    /// The connection could not be made or failed before the MQTT handler took over.
    func connectionFailed(_ error: MQTTClientError) {
        if let channel {
            closeReason = closeReason ?? error
            channel.close(promise: nil)
            return
        }
        connectTimeout?.cancel()
        connectTimeout = nil
        if let promise = connectPromise {
            connectPromise = nil
            promise.fail(error)
            finishStreams(error)
            failAllRequests(error)
            perform(machine.connectionClosed(error, keepSession: false))
        } else {
            scheduleReconnect(after: error)
        }
    }

    /// The MQTT handler is in the pipeline and the transport is ready: send CONNECT.
    func transportReady(_ channel: any Channel) {
        guard self.channel == nil else { return }
        self.channel = channel
        closeReason = nil
        if !fullSinks.isEmpty { channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
        perform(machine.connectionOpened(configuration.connectPacket, now: .now()))
    }

    func received(_ packet: Packet) {
        perform(machine.receive(packet, now: .now()))
    }

    func decodingFailed(_ error: MQTTDecodingError) {
        let code = error.reasonCode
        if configuration.protocolVersion.hasProperties, machine.state == .connected {
            write(.disconnect(DisconnectPacket(reasonCode: code)))
            channel?.flush()
        }
        closeReason = closeReason ?? .protocolError(code, "undecodable packet from the server: \(error)")
        channel?.close(promise: nil)
    }

    func flushIfNeeded() {
        channel?.flush()
    }

    func channelClosed(_ channel: any Channel, error: (any Error)?) {
        guard self.channel === channel else { return }
        self.channel = nil
        keepAliveTask?.cancel()
        keepAliveTask = nil
        connectTimeout?.cancel()
        connectTimeout = nil
        var reason = closeReason ?? .connectionClosed(error.map { "\($0)" } ?? "the server closed the connection")
        if closedByApplication && closeReason == nil { reason = .notConnected }
        closeReason = nil
        let willReconnect = !closedByApplication && everConnected && configuration.reconnection != nil
        perform(machine.connectionClosed(reason, keepSession: willReconnect && configuration.sessionOutlivesConnection))
        if let promise = connectPromise {
            connectPromise = nil
            promise.fail(reason)
        }
        if willReconnect {
            scheduleReconnect(after: reason)
        } else {
            finishStreams(closedByApplication ? nil : reason)
            failAllRequests(reason)
        }
    }

    private func scheduleReconnect(after error: MQTTClientError) {
        guard let reconnection = configuration.reconnection, !closedByApplication else {
            finishStreams(error)
            failAllRequests(error)
            return
        }
        let delay = reconnectDelay
        reconnectDelay = min(reconnection.maximumDelay, reconnectDelay * 2)
        reconnectTask = eventLoop.scheduleTask(in: delay) { [self] in
            reconnectTask = nil
            if !closedByApplication && channel == nil { openConnection() }
        }
    }

    // MARK: Actions

    private func perform(_ action: MQTTConnectionStateMachine.Action) {
        if !action.packets.isEmpty, let channel {
            for packet in action.packets { write(packet) }
            if action.close != nil || !reading { channel.flush() }
        }
        for (id, completion) in action.completions {
            pending.removeValue(forKey: id)?.succeed(completion)
        }
        for message in action.messages { deliver(message) }
        if let connected = action.connected { connectionAccepted(connected) }
        if let close = action.close {
            if let channel {
                closeReason = closeReason ?? close
                channel.close(promise: nil)
            } else {
                connectionFailed(close)
            }
        }
    }

    private func write(_ packet: Packet) {
        guard let channel else { return }
        encodeBuffer.clear()
        do {
            try packet.encode(into: &encodeBuffer, version: configuration.protocolVersion,
                              maximumPacketSize: machine.serverMaximumPacketSize)
        } catch {
            closeReason = closeReason ?? .invalidArgument(.packetTooLarge, "cannot encode \(packet.type): \(error)")
            channel.close(promise: nil)
            return
        }
        channel.write(encodeBuffer, promise: nil)
    }

    private func connectionAccepted(_ result: MQTTConnectResult) {
        connectTimeout?.cancel()
        connectTimeout = nil
        clientIdentifier = result.clientIdentifier
        serverProperties = result.properties
        reconnectDelay = configuration.reconnection?.initialDelay ?? .zero
        if machine.keepAlive > 0 {
            let interval = TimeAmount.milliseconds(min(1000, Int64(machine.keepAlive) * 250))
            keepAliveTask = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
                perform(machine.tick(now: .now(), inboundPaused: !fullSinks.isEmpty))
                channel?.flush()
            }
        }
        if let promise = connectPromise {
            connectPromise = nil
            everConnected = true
            promise.succeed(result)
        } else if !result.sessionPresent {
            resubscribe()
        }
    }

    /// After a reconnection to a server that kept no session, subscribe again to every live stream's filters.
    private func resubscribe() {
        for (_, sink) in sinks.sorted(by: { $0.key < $1.key }) {
            let id = nextRequest
            nextRequest += 1
            perform(machine.subscribe(sink.subscriptions, properties: sink.properties, request: id, now: .now()))
        }
    }

    private func deliver(_ message: MQTTMessage) {
        let identifiers = message.properties.subscriptionIdentifiers
        if !identifiers.isEmpty {
            var delivered = false
            for (id, sink) in sinks {
                if let identifier = sink.subscriptionIdentifier, identifiers.contains(identifier) {
                    yield(message, to: sink, id: id)
                    delivered = true
                }
            }
            if delivered { return }
        }
        for (id, sink) in sinks where sink.subscriptionIdentifier == nil || identifiers.isEmpty {
            for filter in sink.matchFilters where TopicFilter.matches(filter, topicName: message.topic) {
                yield(message, to: sink, id: id)
                break
            }
        }
    }

    private func yield(_ message: MQTTMessage, to sink: Sink, id: UInt64) {
        sink.continuation.yield(message)
        if sink.buffer.added(), !fullSinks.contains(id), sink.buffer.paused() {
            fullSinks.insert(id)
            if fullSinks.count == 1 { channel?.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
        }
    }

    /// A full stream's consumer caught up (or the stream ended): read again once no stream is full.
    func sinkDrained(_ id: UInt64) {
        guard fullSinks.remove(id) != nil, fullSinks.isEmpty else { return }
        channel?.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
    }

    private func finishStreams(_ error: MQTTClientError?) {
        let all = sinks
        sinks = [:]
        for sink in all.values { sink.continuation.finish(throwing: error) }
    }

    private func failAllRequests(_ error: MQTTClientError) {
        let all = pending
        pending = [:]
        for promise in all.values { promise.succeed(.failed(error)) }
    }

    /// The filter a topic name is matched against locally: shared subscriptions match on their inner filter.
    static func matchFilter(_ filter: String) -> String {
        if let shared = try? SharedSubscription(parsing: filter) { return shared.topicFilter }
        return filter
    }

    static func describe(_ error: any Error, configuration: MQTTClientConfiguration) -> String {
        let text = "\(error)"
        if text.contains("connection reset") || text.contains("Connection refused") || text.contains("ECONNREFUSED")
            || text.contains("connectionRefused") || text.contains("errno: 111")
        {
            return "connection refused by \(configuration.host):\(configuration.port)"
        }
        if let error = error as? NIOSSLError {
            return "TLS failure with \(configuration.host):\(configuration.port): \(error)"
        }
        if let error = error as? BoringSSLError {
            return "TLS failure with \(configuration.host):\(configuration.port): \(error)"
        }
        if let error = error as? NIOConnectionError {
            if error.dnsAAAAError != nil || error.dnsAError != nil, error.connectionErrors.isEmpty {
                return "cannot resolve host \(configuration.host)"
            }
            if let first = error.connectionErrors.first {
                return "cannot connect to \(configuration.host):\(configuration.port): \(first.error)"
            }
        }
        return "cannot connect to \(configuration.host):\(configuration.port): \(text)"
    }
}

/// A weak reference to the session, for callbacks that may outlive it.
struct WeakSession {
    weak var session: MQTTClientSession?
    init(_ session: MQTTClientSession) { self.session = session }
}
