import MQTTCore
import NIOCore
@testable import TernBroker

/// Records what the broker asks its output to do.
struct RecordingOutput: BrokerOutput {
    var sent: [(ConnectionID, Packet)] = []
    var closed: [ConnectionID] = []
    var authenticationRequests: [AuthenticationRequest] = []
    /// Connections whose socket is full (slow consumers).
    var stalled: Set<ConnectionID> = []
    /// Connections not read (publisher flow control), and every pause and resumption in order.
    var paused: Set<ConnectionID> = []
    var readingChanges: [(ConnectionID, paused: Bool)] = []

    mutating func send(_ packet: Packet, to connection: ConnectionID) { sent.append((connection, packet)) }
    mutating func close(_ connection: ConnectionID) { closed.append(connection) }
    mutating func authenticate(_ request: AuthenticationRequest) { authenticationRequests.append(request) }
    func isWritable(_ connection: ConnectionID) -> Bool { !stalled.contains(connection) }
    mutating func pauseReading(_ connection: ConnectionID) {
        paused.insert(connection)
        readingChanges.append((connection, true))
    }
    mutating func resumeReading(_ connection: ConnectionID) {
        paused.remove(connection)
        readingChanges.append((connection, false))
    }
}

/// Drives a `Broker` with an injected clock, as the server would, and lets tests read what each connection got.
final class BrokerHarness {
    let broker: Broker
    var output = RecordingOutput()
    var now = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private var nextConnection: UInt64 = 0

    init(settings: BrokerSettings = BrokerSettings()) {
        broker = Broker(settings: settings)
    }

    func advance(seconds: Double) {
        now = now + .nanoseconds(Int64(seconds * 1e9))
        broker.tick(now: now, output: &output)
    }

    func open(requiresAuthentication: Bool = false, protocolLimits: ListenerProtocolLimits? = nil) -> ConnectionID {
        nextConnection += 1
        let id = ConnectionID(nextConnection)
        broker.connectionOpened(id, now: now, requiresAuthentication: requiresAuthentication,
                                protocolLimits: protocolLimits)
        return id
    }

    func send(_ packet: Packet, from id: ConnectionID) {
        broker.receive(packet, from: id, now: now, output: &output)
    }

    func dropConnection(_ id: ConnectionID) {
        broker.connectionClosed(id, now: now, output: &output)
    }

    /// Opens a connection and sends CONNECT; returns the connection and the CONNACK it got.
    @discardableResult
    func connect(_ clientID: String, version: ProtocolVersion = .v5, cleanStart: Bool = true,
                 keepAlive: UInt16 = 0, will: LastWill? = nil, properties: Properties = [],
                 protocolLimits: ListenerProtocolLimits? = nil) -> (ConnectionID, ConnAckPacket?)
    {
        let id = open(protocolLimits: protocolLimits)
        send(.connect(ConnectPacket(protocolVersion: version, cleanStart: cleanStart, keepAlive: keepAlive,
                                    clientIdentifier: clientID, will: will, properties: properties)), from: id)
        let connack = packets(to: id).compactMap { if case .connack(let c) = $0 { c } else { nil } }.last
        return (id, connack)
    }

    func subscribe(_ id: ConnectionID, _ filter: String, qos: QoS = .atMostOnce,
                   options: SubscriptionOptions? = nil, identifier: UInt32? = nil, packetIdentifier: UInt16 = 1)
    {
        let subscription = Subscription(topicFilter: filter, options: options ?? SubscriptionOptions(qos: qos))
        send(.subscribe(SubscribePacket(
            packetIdentifier: packetIdentifier, subscriptions: [subscription],
            properties: identifier.map { [.subscriptionIdentifier($0)] } ?? [])), from: id)
    }

    func publish(_ id: ConnectionID, _ topic: String, _ payload: String, qos: QoS = .atMostOnce,
                 retain: Bool = false, packetIdentifier: UInt16? = nil, properties: Properties = [])
    {
        send(.publish(PublishPacket(
            topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain,
            packetIdentifier: qos == .atMostOnce ? nil : (packetIdentifier ?? 1), properties: properties)), from: id)
    }

    /// Every packet sent to the connection so far, in order.
    func packets(to id: ConnectionID) -> [Packet] {
        output.sent.filter { $0.0 == id }.map(\.1)
    }

    /// The PUBLISH packets sent to the connection so far.
    func publishes(to id: ConnectionID) -> [PublishPacket] {
        packets(to: id).compactMap { if case .publish(let p) = $0 { p } else { nil } }
    }

    func isClosed(_ id: ConnectionID) -> Bool { output.closed.contains(id) }

    /// Forgets what was recorded, so that a test can assert on what comes next (not which connections are paused).
    func clear() {
        let paused = output.paused
        output = RecordingOutput()
        output.paused = paused
    }
}

extension PublishPacket {
    var payloadString: String { String(buffer: payload) }
}
