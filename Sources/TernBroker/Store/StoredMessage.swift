import MQTTCore
import NIOCore

/// An application message as a store keeps it: like `ApplicationMessage`, with its expiry as wall-clock time
/// (milliseconds since the Unix epoch), since the broker's monotonic deadlines do not survive a restart.
public struct StoredMessage: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    public var properties: Properties
    /// Wall-clock expiry in milliseconds since the Unix epoch; nil for never.
    public var expiresAt: Int64?
    public var publisher: String?

    public init(topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, properties: Properties = [],
                expiresAt: Int64? = nil, publisher: String? = nil)
    {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.expiresAt = expiresAt
        self.publisher = publisher
    }

    init(_ message: ApplicationMessage, clock: StoreClock) {
        self.init(topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                  properties: message.properties, expiresAt: message.expiresAt.map(clock.wallClock),
                  publisher: message.publisher?.string)
    }

    func applicationMessage(clock: StoreClock) -> ApplicationMessage {
        ApplicationMessage(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties,
                           expiresAt: expiresAt.map(clock.deadline), publisher: publisher.map { ClientIdentifier($0) })
    }

    /// Whether the message has expired at the wall-clock time `now` (milliseconds since the Unix epoch).
    public func isExpired(atWallClock now: Int64) -> Bool {
        if let expiresAt { return expiresAt <= now }
        return false
    }
}

/// Converts between the broker's monotonic deadlines and the wall-clock milliseconds a store keeps.
public struct StoreClock: Sendable {
    /// Wall-clock milliseconds since the Unix epoch minus monotonic milliseconds, at the same instant.
    public var offset: Int64

    public init(offset: Int64 = 0) { self.offset = offset }

    /// The clock for "the monotonic `now` is the wall-clock `wallClockNow`".
    public init(now: NIODeadline, wallClockNow: Int64) {
        self.offset = wallClockNow - Int64(now.uptimeNanoseconds / 1_000_000)
    }

    public func wallClock(_ deadline: NIODeadline) -> Int64 {
        Int64(deadline.uptimeNanoseconds / 1_000_000) + offset
    }

    public func deadline(_ wallClock: Int64) -> NIODeadline {
        .uptimeNanoseconds(UInt64(max(0, wallClock - offset)) * 1_000_000)
    }
}
