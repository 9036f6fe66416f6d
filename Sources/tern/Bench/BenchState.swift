import Histogram
import MQTTCore
import NIOCore

/// Everything one bench run counts, without locks: publishers run on one event loop and subscribers on another,
/// and each field is written on one of them only (`running`, `sentPerPublisher` and `acknowledged` on the
/// publishers' loop, the checks, the histogram and the receive counts on the subscribers'). Two loops rather
/// than one: NIO runs every queued task before it reads sockets again, so publishers that keep rescheduling
/// themselves on a fast broker would starve subscribers on the same loop of reads.
// @unchecked Sendable: each field is touched on its loop only (callers hop there with `loop.submit`).
final class BenchState: @unchecked Sendable {
    struct Options {
        var version: ProtocolVersion
        var qos: QoS
        var payloadSize: Int
        var count: Int?
        var window: Int
        /// Session expiry interval of subscribers; above 0 their sessions outlive the connection.
        var sessionExpiry: UInt32 = 0
    }

    /// Publisher index (4 bytes), sequence number (8), send or intended-send time in uptime nanoseconds (8).
    static let headerSize = 20

    let options: Options
    // `@exclusivity(unchecked)`: read or changed per message (see `BenchConnection`); each property is used by
    // one event loop's thread (`running` is only set before and after the load).
    @exclusivity(unchecked) var running = false
    @exclusivity(unchecked) var sentPerPublisher: [UInt64]
    @exclusivity(unchecked) var checks: [[DeliveryCheck]]
    @exclusivity(unchecked) var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000,
                                                              numberOfSignificantValueDigits: .three)
    @exclusivity(unchecked) var receivedCount: UInt64 = 0
    @exclusivity(unchecked) var acknowledged: UInt64 = 0
    /// When the last message arrived (uptime nanoseconds): the receive rate counts until then, drain included.
    @exclusivity(unchecked) var lastReceived: UInt64 = 0

    init(options: Options, publishers: Int, subscribers: Int) {
        self.options = options
        sentPerPublisher = Array(repeating: 0, count: publishers)
        checks = Array(repeating: Array(repeating: DeliveryCheck(), count: publishers), count: subscribers)
    }

    var sentCount: UInt64 { sentPerPublisher.reduce(0, +) }

    func sent(publisher: Int) {
        sentPerPublisher[publisher] += 1
    }

    /// Counts a message that arrived at `now` (uptime nanoseconds), sent at `stamp`.
    func received(subscriber: Int, publisher: Int, sequence: UInt64, stamp: UInt64, now: UInt64) {
        guard subscriber < checks.count, publisher < checks[subscriber].count else { return }
        receivedCount += 1
        checks[subscriber][publisher].record(sequence)
        lastReceived = now
        let micros = now > stamp ? (now - stamp) / 1000 : 0
        _ = histogram.record(min(micros, 60_000_000))
    }
}
