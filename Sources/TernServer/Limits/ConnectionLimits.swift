/// The limits the server applies to each connection's socket (docs/limits.md); the protocol limits are in
/// `BrokerSettings`.
public struct ConnectionLimits: Sendable, Equatable {
    /// PUBLISH packets per second read from one connection (`max_publish_rate`); 0 means no limit.
    public var publishRate: Int
    /// Bytes per second read from one connection (`max_publish_bytes_rate`); 0 means no limit.
    public var bytesRate: Int
    /// Bytes written to a connection and not yet taken by its socket beyond which it is a slow consumer
    /// (`max_write_buffer`, the channel's high water mark; it is writable again below half of it).
    public var writeBuffer: Int

    public init(publishRate: Int = 0, bytesRate: Int = 0, writeBuffer: Int = 1 << 20) {
        self.publishRate = publishRate
        self.bytesRate = bytesRate
        self.writeBuffer = writeBuffer
    }
}
