import Foundation
import MQTTCore
import NIOCore
import TernBroker
import TernServer

/// Which store a durability test runs against.
enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case memory, sqlite

    var description: String { rawValue }

    func make(directory: String) throws -> any BrokerStore & Sendable {
        switch self {
        case .memory: InMemoryStore()
        case .sqlite: try SQLiteStore(directory: directory)
        }
    }
}

/// Records what the broker sends, by connection.
struct RecordedOutput: BrokerOutput {
    var sent: [(ConnectionID, Packet)] = []
    var closed: [ConnectionID] = []

    mutating func send(_ packet: Packet, to connection: ConnectionID) { sent.append((connection, packet)) }
    mutating func close(_ connection: ConnectionID) { closed.append(connection) }
    mutating func authenticate(_ request: AuthenticationRequest) {}
}

/// A broker that records its changes into a store after every step, as the server's writer would, and can be
/// "restarted": a new broker restored from the store, as after `kill -9` (nothing but the commits survives).
final class DurableBroker {
    let store: any BrokerStore & Sendable
    let settings: BrokerSettings
    private(set) var broker: Broker
    var output = RecordedOutput()
    var now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    private var nextConnection: UInt64 = 0
    /// Changes committed so far, for tests that look at what was recorded.
    private(set) var committed: [StoreChange] = []

    init(store: any BrokerStore & Sendable, settings: BrokerSettings = BrokerSettings()) throws {
        self.store = store
        self.settings = settings
        broker = Broker(settings: settings)
        broker.recordsStoreChanges = true
    }

    /// Commits the recorded changes, then answers the broker's requests for pages of stored queues (as the
    /// server's writer does, after the commit), until it asks for no more.
    func commit() throws {
        while true {
            let changes = broker.takeStoreChanges()
            committed += changes
            try store.commit(changes)
            let requests = broker.takeQueuePageRequests()
            if requests.isEmpty { return }
            pageReads += requests.count
            for request in requests {
                let messages = try store.queuedMessages(clientID: request.clientID, after: request.after,
                                                        limit: request.limit)
                broker.receiveQueuePage(request, messages: messages, now: now, output: &output)
            }
        }
    }

    /// Pages of stored queues read so far.
    private(set) var pageReads = 0

    /// A new broker, `seconds` later, from what the store holds.
    func restart(after seconds: Int64 = 0) throws {
        now = now + .seconds(seconds)
        broker = Broker(settings: settings)
        broker.recordsStoreChanges = true
        output = RecordedOutput()
        broker.restore(try store.load(queueHeadLimit: settings.queuePageSize), now: now, output: &output)
        try commit()
    }

    func advance(seconds: Int64) throws {
        now = now + .seconds(seconds)
        broker.tick(now: now, output: &output)
        try commit()
    }

    func send(_ packet: Packet, from id: ConnectionID) throws {
        broker.receive(packet, from: id, now: now, output: &output)
        try commit()
    }

    @discardableResult
    func connect(_ clientID: String, cleanStart: Bool = false, expiry: UInt32 = 3600, will: LastWill? = nil,
                 version: ProtocolVersion = .v5, receiveMaximum: UInt16? = nil) throws
        -> (ConnectionID, ConnAckPacket?)
    {
        nextConnection += 1
        let id = ConnectionID(nextConnection)
        broker.connectionOpened(id, now: now)
        var properties: Properties = version == .v5 && expiry > 0 ? [.sessionExpiryInterval(expiry)] : []
        if let receiveMaximum { properties.receiveMaximum = receiveMaximum }
        try send(.connect(ConnectPacket(
            protocolVersion: version, cleanStart: cleanStart, keepAlive: 0, clientIdentifier: clientID, will: will,
            properties: properties)), from: id)
        let connack = packets(to: id).compactMap { if case .connack(let c) = $0 { c } else { nil } }.last
        return (id, connack)
    }

    func subscribe(_ id: ConnectionID, _ filter: String, qos: QoS, identifier: UInt32? = nil) throws {
        try send(.subscribe(SubscribePacket(
            packetIdentifier: 1, subscriptions: [Subscription(topicFilter: filter, options: SubscriptionOptions(qos: qos))],
            properties: identifier.map { [.subscriptionIdentifier($0)] } ?? [])), from: id)
    }

    func publish(_ id: ConnectionID, _ topic: String, _ payload: String, qos: QoS, retain: Bool = false,
                 packetIdentifier: UInt16 = 1, duplicate: Bool = false, properties: Properties = []) throws
    {
        try send(.publish(PublishPacket(
            topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain, duplicate: duplicate,
            packetIdentifier: qos == .atMostOnce ? nil : packetIdentifier, properties: properties)), from: id)
    }

    func disconnect(_ id: ConnectionID) throws {
        try send(.disconnect(DisconnectPacket()), from: id)
    }

    func packets(to id: ConnectionID) -> [Packet] { output.sent.filter { $0.0 == id }.map(\.1) }

    func publishes(to id: ConnectionID) -> [PublishPacket] {
        packets(to: id).compactMap { if case .publish(let p) = $0 { p } else { nil } }
    }
}
