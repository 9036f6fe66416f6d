import MQTTCore

/// The messages of one `subscribe` call, as an `AsyncSequence`.
///
/// The sequence yields every message whose topic matches one of the subscription's filters, in the order they
/// arrive. It ends after `unsubscribe()` or `MQTTClient.disconnect()`, and throws the reason when the connection
/// is lost for good (with automatic reconnection it keeps going across reconnections).
///
/// The sequence holds at most about ``MQTTClientConfiguration/subscriptionBufferLimit`` messages the consumer has
/// not taken: when it is full the client stops reading from the connection until the consumer has taken half of
/// them, so a slow consumer slows the server down (TCP backpressure) instead of filling memory. Nothing is
/// dropped. Iterate each subscription you keep: one left unread holds every other subscription up too.
public struct MQTTSubscription: AsyncSequence, Sendable {
    public typealias Element = MQTTMessage

    /// The filters and options subscribed.
    public let subscriptions: [Subscription]
    /// The SUBACK's reason codes, one per filter: the granted QoS, or why the server refused that filter.
    public let reasonCodes: [ReasonCode]
    /// The SUBACK's properties (Reason String, user properties).
    public let properties: Properties

    let stream: AsyncThrowingStream<MQTTMessage, any Error>
    let buffer: SubscriptionBuffer
    let client: MQTTClient
    let sinkID: UInt64

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<MQTTMessage, any Error>.AsyncIterator
        let buffer: SubscriptionBuffer

        public mutating func next() async throws -> MQTTMessage? {
            let message = try await base.next()
            if message != nil { buffer.taken() }
            return message
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), buffer: buffer)
    }

    /// True when the server granted at least one of the filters.
    public var isGranted: Bool { reasonCodes.contains { $0.isSuccess } }

    /// Unsubscribes from this subscription's filters and ends the sequence.
    @discardableResult
    public func unsubscribe(properties: Properties = []) async throws -> [ReasonCode] {
        try await client.unsubscribe(subscriptions.map(\.topicFilter), properties: properties, endingStream: sinkID)
    }
}
