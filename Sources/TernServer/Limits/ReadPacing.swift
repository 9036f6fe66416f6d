import NIOCore

/// Token buckets for one connection's `max_publish_rate` and `max_publish_bytes_rate`: each holds one second's
/// allowance and refills continuously. When one runs dry the connection stops being read until it has refilled,
/// so the client is slowed by TCP backpressure rather than disconnected.
struct ReadPacing {
    private let publishRate: Double
    private let bytesRate: Double
    private var publishes: Double
    private var bytes: Double
    private var refilledAt: NIODeadline

    /// Nil when the limits set no rate.
    init?(_ limits: ConnectionLimits, now: NIODeadline) {
        guard limits.publishRate > 0 || limits.bytesRate > 0 else { return nil }
        publishRate = Double(limits.publishRate)
        bytesRate = Double(limits.bytesRate)
        publishes = publishRate
        bytes = bytesRate
        refilledAt = now
    }

    /// Counts a packet read: its size, and whether it is a PUBLISH.
    mutating func spend(bytes count: Int, isPublish: Bool) {
        if bytesRate > 0 { bytes -= Double(count) }
        if publishRate > 0 && isPublish { publishes -= 1 }
    }

    /// How long to stop reading before the next packet, or nil to go on now.
    mutating func pause(now: NIODeadline) -> TimeAmount? {
        let elapsed = Double((now - refilledAt).nanoseconds) / 1e9
        refilledAt = now
        publishes = min(publishRate, publishes + elapsed * publishRate)
        bytes = min(bytesRate, bytes + elapsed * bytesRate)
        var wait = 0.0
        if publishRate > 0 && publishes < 1 { wait = max(wait, (1 - publishes) / publishRate) }
        if bytesRate > 0 && bytes < 1 { wait = max(wait, (1 - bytes) / bytesRate) }
        return wait > 0 ? .nanoseconds(Int64(wait * 1e9) + 1) : nil
    }
}
