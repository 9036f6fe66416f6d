import Logging
import MQTTCore
import NIOCore
import NIOPosix
import TernBroker

/// The live connections of one event loop, by the identifiers the broker knows them by, and the broker output
/// that writes to them. Writes are not flushed one by one: a connection written to is marked, and all marked
/// connections are flushed once at the end of the event-loop work that wrote to them.
final class ConnectionTable {
    struct Entry {
        let channel: Channel
        let handler: MQTTConnectionHandler
        /// The listener's authenticator; nil when the listener lets every client in.
        let authenticator: (any ConnectionAuthenticator)?
    }

    private var entries: [ConnectionID: Entry] = [:]
    private var unflushed: [ConnectionID] = []
    private var nextID: UInt64 = 0
    let logger: Logger
    private let threadPool: NIOThreadPool
    /// Called on the event loop with the outcome of an authentication.
    var authenticationCompleted: ((ConnectionID, AuthenticationResult) -> Void)?
    /// Bytes, packets and sockets counted on this loop's connections, for `$SYS` and metrics.
    var traffic = WireTraffic()
    /// CONNECTs refused by a listener's authenticator (bad user name or password, not allowed in).
    var authenticationFailures = 0
    /// `log_type subscribe` and `unsubscribe`.
    var subscriptionLog = SubscriptionLog()

    init(logger: Logger, threadPool: NIOThreadPool) {
        self.logger = logger
        self.threadPool = threadPool
    }

    var count: Int { entries.count }

    func register(channel: Channel, handler: MQTTConnectionHandler,
                  authenticator: (any ConnectionAuthenticator)?) -> ConnectionID
    {
        nextID += 1
        let id = ConnectionID(nextID)
        entries[id] = Entry(channel: channel, handler: handler, authenticator: authenticator)
        return id
    }

    func remove(_ id: ConnectionID) {
        entries[id] = nil
    }

    var allConnections: [ConnectionID] { Array(entries.keys) }

    /// The client's address, as logged (`127.0.0.1:50122`, `[::1]:50122`).
    func remoteAddress(of id: ConnectionID) -> String? {
        entries[id]?.channel.remoteAddress.map(MQTTServer.display)
    }

    /// The local port a connection was accepted on: which listener it came through.
    func localPort(of id: ConnectionID) -> Int? {
        entries[id]?.channel.localAddress?.port
    }

    /// The authenticator of the listener a connection came through; nil for a listener that lets everyone in.
    func authenticator(of id: ConnectionID) -> (any ConnectionAuthenticator)? {
        entries[id]?.authenticator
    }

    /// Flushes every connection written to since the last call.
    func flushAll() {
        for id in unflushed {
            entries[id]?.channel.flush()
        }
        unflushed.removeAll(keepingCapacity: true)
    }

    /// The `BrokerOutput` over this table.
    struct Output: BrokerOutput {
        let table: ConnectionTable

        mutating func send(_ packet: Packet, to connection: ConnectionID) {
            table.send(packet, to: connection)
        }

        mutating func close(_ connection: ConnectionID) {
            table.close(connection)
        }

        mutating func authenticate(_ request: AuthenticationRequest) {
            table.authenticate(request)
        }
    }

    var output: Output { Output(table: self) }

    fileprivate func send(_ packet: Packet, to id: ConnectionID) {
        guard let entry = entries[id] else { return }
        let version = entry.handler.protocolVersion
        var buffer = entry.channel.allocator.buffer(capacity: packet.encodedSize(version: version))
        do {
            try packet.encode(into: &buffer, version: version)
        } catch {
            logger.error("cannot encode \(packet.type) for connection \(id): \(error)")
            return
        }
        entry.handler.packetSent(packet)
        traffic.packetsSent += 1
        traffic.bytesSent += buffer.readableBytes
        entry.channel.write(buffer, promise: nil)
        unflushed.append(id)
    }

    /// Runs the listener's authenticator on the thread pool and hands the result back on the event loop.
    fileprivate func authenticate(_ connect: AuthenticationRequest) {
        guard let entry = entries[connect.connection] else { return }
        guard let authenticator = entry.authenticator else {
            authenticationCompleted?(connect.connection, .accepted(username: connect.username))
            return
        }
        var withCertificate = connect
        withCertificate.clientCertificate = ListenerTransport.clientCertificate(of: entry.channel)
        let request = withCertificate
        let loop = entry.channel.eventLoop
        let table = NIOLoopBound(self, eventLoop: loop)
        threadPool.runIfActive(eventLoop: loop) {
            authenticator.authenticate(request)
        }.whenComplete { result in
            let table = table.value
            switch result {
            case .success(let outcome):
                if case .refused(let reasonCode) = outcome {
                    table.authenticationFailures += 1
                    // Never the password.
                    table.logger.notice("""
                        client '\(request.clientIdentifier)' refused (\(reasonCode)), user \
                        \(request.username.map { "'\($0)'" } ?? "none"), connection \(request.connection)
                        """)
                }
                table.authenticationCompleted?(request.connection, outcome)
            case .failure(let error):
                table.logger.error("authentication of connection \(request.connection) failed: \(error)")
                table.authenticationCompleted?(request.connection, .refused(.serverUnavailable))
            }
            table.flushAll()
        }
    }

    fileprivate func close(_ id: ConnectionID) {
        guard let entry = entries.removeValue(forKey: id) else { return }
        entry.handler.closeRequested()
        // Close once what was written before has gone out.
        let channel = entry.channel
        channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
