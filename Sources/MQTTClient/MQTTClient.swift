import MQTTCore
import NIOCore
import NIOPosix

/// An MQTT 3.1.1 and 5.0 client on SwiftNIO, with async/await methods.
///
/// ```swift
/// let client = MQTTClient(configuration: .init(host: "127.0.0.1", port: 1883))
/// try await client.connect()
/// let subscription = try await client.subscribe(to: "sensors/#", qos: .atLeastOnce)
/// try await client.publish(to: "sensors/kitchen", payload: "21.5", qos: .atLeastOnce)
/// for try await message in subscription { print(message.topic, message.payloadString); break }
/// try await client.disconnect()
/// ```
///
/// The client is `Sendable`: its state lives on one event loop and every method hops there. One client holds one
/// session; `connect` may be called again after a disconnection. See docs/client.md.
public final class MQTTClient: Sendable {
    /// The configuration the client was made with.
    public let configuration: MQTTClientConfiguration
    /// The event loop the client's connection and state live on.
    public let eventLoop: any EventLoop
    /// Touched only on `eventLoop` (every method hops there).
    private let session: MQTTClientSession

    /// Creates a client; nothing happens on the network until ``connect()``.
    public init(configuration: MQTTClientConfiguration,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton)
    {
        self.configuration = configuration
        let eventLoop = eventLoopGroup.any()
        self.eventLoop = eventLoop
        self.session = MQTTClientSession(eventLoop: eventLoop, configuration: configuration)
    }

    /// Opens the network connection and the MQTT session; returns when CONNACK accepted it.
    ///
    /// Throws ``MQTTClientError/connectionRefused(_:reasonString:)`` with the server's reason code when refused,
    /// ``MQTTClientError/connectionClosed(_:)`` when the server cannot be reached, ``MQTTClientError/timeout``
    /// when no CONNACK comes within the configured connect timeout.
    @discardableResult
    public func connect() async throws -> MQTTConnectResult {
        try await onLoop { $0.connect() }
    }

    /// Publishes a message and returns when its QoS exchange is complete: at once for QoS 0, on PUBACK for
    /// QoS 1, on PUBCOMP for QoS 2, with the server's reason code (MQTT 5.0).
    ///
    /// `properties` may carry any PUBLISH property: Payload Format Indicator, Message Expiry Interval, Content
    /// Type, Response Topic, Correlation Data, user properties (a Topic Alias is managed by the client).
    /// Throws ``MQTTClientError/publishRejected(_:reasonString:)`` when the server refuses the message.
    @discardableResult
    public func publish(to topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false,
                        properties: Properties = []) async throws -> MQTTPublishResult
    {
        let packet = PublishPacket(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties)
        let completion = try await onLoop { $0.publish(packet) }
        switch completion {
        case .published(let result): return result
        case .failed(let error): throw error
        case .subscribed, .unsubscribed, .reauthenticated:
            preconditionFailure("PUBLISH completed as \(completion)")
        }
    }

    /// Publishes a UTF-8 string payload.
    @discardableResult
    public func publish(to topic: String, payload: String, qos: QoS = .atMostOnce, retain: Bool = false,
                        properties: Properties = []) async throws -> MQTTPublishResult
    {
        try await publish(to: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain,
                          properties: properties)
    }

    /// Subscribes to one or more filters with their options (QoS, No Local, Retain As Published, Retain
    /// Handling) and returns the stream of matching messages. `properties` may carry a Subscription Identifier and
    /// user properties (MQTT 5.0). The returned subscription's `reasonCodes` say what the server granted.
    public func subscribe(to subscriptions: [Subscription], properties: Properties = []) async throws
        -> MQTTSubscription
    {
        let (sinkID, result, stream, buffer) = try await onLoop {
            $0.subscribe(subscriptions, properties: properties)
        }
        return MQTTSubscription(subscriptions: subscriptions, reasonCodes: result.reasonCodes,
                                properties: result.properties, stream: stream, buffer: buffer, client: self,
                                sinkID: sinkID)
    }

    /// Subscribes to one filter.
    public func subscribe(to topicFilter: String, qos: QoS = .atMostOnce) async throws -> MQTTSubscription {
        try await subscribe(to: [Subscription(topicFilter: topicFilter, qos: qos)])
    }

    /// Unsubscribes from filters; streams whose filters are all gone end. Returns the UNSUBACK's reason codes
    /// (MQTT 5.0; empty for 3.1.1).
    @discardableResult
    public func unsubscribe(_ topicFilters: [String], properties: Properties = []) async throws -> [ReasonCode] {
        try await unsubscribe(topicFilters, properties: properties, endingStream: nil)
    }

    func unsubscribe(_ topicFilters: [String], properties: Properties, endingStream sinkID: UInt64?) async throws
        -> [ReasonCode]
    {
        let completion = try await onLoop {
            $0.unsubscribe(topicFilters, properties: properties, endingStream: sinkID)
        }
        switch completion {
        case .unsubscribed(let result): return result.reasonCodes
        case .failed(let error): throw error
        case .published, .subscribed, .reauthenticated:
            preconditionFailure("UNSUBSCRIBE completed as \(completion)")
        }
    }

    /// Repeats the enhanced authentication exchange of the configured ``MQTTClientConfiguration/authenticator``
    /// on the open connection (AUTH 0x19, MQTT 5.0 section 4.12.1), e.g. before credentials expire. Returns the
    /// properties of the server's final AUTH. Messages keep flowing meanwhile. When the server refuses, it
    /// disconnects the client: this throws ``MQTTClientError/disconnectedByServer(_:reasonString:)``.
    @discardableResult
    public func reauthenticate() async throws -> Properties {
        let completion = try await onLoop { $0.reauthenticate() }
        switch completion {
        case .reauthenticated(let properties): return properties
        case .failed(let error): throw error
        case .published, .subscribed, .unsubscribed:
            preconditionFailure("re-authentication completed as \(completion)")
        }
    }

    /// Sends DISCONNECT (normal disconnection unless told otherwise; 0x04 asks the server to publish the will)
    /// and closes the connection. Subscription streams end; no reconnection follows.
    public func disconnect(reasonCode: ReasonCode = .normalDisconnection, properties: Properties = []) async throws {
        let packet = DisconnectPacket(reasonCode: reasonCode, properties: properties)
        try await onLoop { $0.disconnect(packet) }
    }

    /// True while a connection is open and accepted.
    public var isConnected: Bool {
        get async { (try? await onLoop { $0.eventLoop.makeSucceededFuture($0.isConnected) }) ?? false }
    }

    /// The client identifier in use (the server's Assigned Client Identifier when it chose one).
    public var clientIdentifier: String {
        get async { (try? await onLoop { $0.eventLoop.makeSucceededFuture($0.clientIdentifier) }) ?? "" }
    }

    /// The CONNACK properties of the current connection (limits, Response Information, ...).
    public var serverProperties: Properties {
        get async { (try? await onLoop { $0.eventLoop.makeSucceededFuture($0.serverProperties) }) ?? [] }
    }

    private func onLoop<T: Sendable>(_ body: @escaping @Sendable (MQTTClientSession) -> EventLoopFuture<T>)
        async throws -> T
    {
        let session = self.session
        return try await eventLoop.flatSubmit { body(session) }.get()
    }
}
