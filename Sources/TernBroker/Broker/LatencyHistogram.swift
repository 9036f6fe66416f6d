import NIOCore

/// Counts of durations in fixed buckets, cumulative as Prometheus histograms are: recording is a short scan and
/// two integer additions, cheap enough for every delivery on the event loop.
public struct LatencyHistogram: Sendable, Hashable {
    /// Upper bounds of the buckets, in nanoseconds (the last bucket, +Inf, is implicit).
    public static let bounds: [Int64] = [
        100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000, 60_000_000_000,
    ]
    /// Observations at or below each bound (not cumulative), then above the last one.
    private var counts = [Int](repeating: 0, count: bounds.count + 1)
    /// The sum of every observation, in nanoseconds.
    public private(set) var sumNanoseconds: Int64 = 0

    public init() {}

    public mutating func record(_ duration: TimeAmount) {
        let nanoseconds = max(0, duration.nanoseconds)
        var index = 0
        while index < Self.bounds.count && nanoseconds > Self.bounds[index] { index += 1 }
        counts[index] += 1
        sumNanoseconds &+= nanoseconds
    }

    /// Observations at or below each bound, cumulative, ending with the total (+Inf).
    public var cumulativeCounts: [Int] {
        var total = 0
        return counts.map { count in
            total += count
            return total
        }
    }

    public var count: Int { counts.reduce(0, +) }
}
