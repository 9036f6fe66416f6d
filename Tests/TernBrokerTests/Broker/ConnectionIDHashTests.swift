import Testing
@testable import TernBroker

/// The hash the connection tables use (`ConnectionID._rawHashValue`): consecutive identifiers, as the server hands
/// them out, take distinct buckets and leave no long run of full buckets, which a dictionary's removal walks.
@Suite struct ConnectionIDHashTests {
    /// The longest run of occupied buckets (wrapping around) when `count` identifiers from `first` fill a table of
    /// 2^`bits` buckets as a Swift dictionary places them (the hash's low bits), or nil when two collide.
    private func longestRun(bits: Int, count: Int, first: UInt64, seed: Int) -> Int? {
        let mask = (1 << bits) - 1
        var occupied = [Bool](repeating: false, count: 1 << bits)
        for raw in first..<first + UInt64(count) {
            let bucket = ConnectionID(raw)._rawHashValue(seed: seed) & mask
            if occupied[bucket] { return nil }
            occupied[bucket] = true
        }
        var longest = 0, run = 0
        for bucket in 0..<2 * occupied.count {
            run = occupied[bucket & mask] ? run + 1 : 0
            longest = max(longest, run)
        }
        return longest
    }

    @Test(arguments: 4...17)
    func consecutiveIdentifiersSpreadEvenly(bits: Int) {
        let seeds = [0, 0x5bd1_e995, -0x3c6e_f372_fe94_f82b, 0x7fff_ffff_ffff_ffff]
        for (load, first) in [(0.25, 1), (0.5, 1_000_003), (0.75, 1 << 40)] as [(Double, UInt64)] {
            for seed in seeds {
                let count = Int(load * Double(1 << bits))
                let run = longestRun(bits: bits, count: count, first: first, seed: seed)
                #expect(run != nil, "a collision among \(count) identifiers in \(1 << bits) buckets")
                // The identity hash would leave one run of `count`.
                #expect(run ?? .max <= 16, "a run of \(run ?? 0) in \(1 << bits) buckets at load \(load)")
            }
        }
    }
}
