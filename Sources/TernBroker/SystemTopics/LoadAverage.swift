#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A rate per minute, averaged exponentially over 1, 5 and 15 minutes, as Mosquitto reports its `$SYS/broker/load`
/// values: each update feeds the rate since the previous one, weighted by how long that interval was.
struct LoadAverage: Sendable {
    private(set) var oneMinute = 0.0
    private(set) var fiveMinutes = 0.0
    private(set) var fifteenMinutes = 0.0
    private var lastTotal: Int?

    /// Feeds the counter's current total, `seconds` after the previous update.
    mutating func update(total: Int, seconds: Double) {
        defer { lastTotal = total }
        guard let lastTotal, seconds > 0 else { return }
        let perMinute = Double(total - lastTotal) * 60 / seconds
        func smooth(_ average: inout Double, window: Double) {
            let decay = exp(-seconds / window)
            average = perMinute + decay * (average - perMinute)
        }
        smooth(&oneMinute, window: 60)
        smooth(&fiveMinutes, window: 300)
        smooth(&fifteenMinutes, window: 900)
    }
}
