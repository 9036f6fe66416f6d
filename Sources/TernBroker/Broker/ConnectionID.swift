/// Identifies one network connection to the broker, for as long as the process runs.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    public var description: String { "#\(rawValue)" }

    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    // The broker and the server look connections up by identifier per packet and per delivery. Identifiers are
    // handed out in sequence by the server, never chosen by a client, so no SipHash (UInt64's own hash, 1-2% of
    // fan-out and of fan-in QoS 1) is needed to protect the tables. The identity would spread them with no collision
    // but packs them into one run of full buckets, and a dictionary's removal walks the run after the freed bucket
    // (8,000 instructions per close and table with 2,000 connections open, more as connections grow). Multiplied
    // by an odd constant (2^64 over the golden ratio), consecutive identifiers still take distinct buckets (the low
    // bits of the product depend on the identifier's low bits alone) but lie evenly spread, in runs of a few buckets;
    // the seed is added, a rotation that keeps that spacing.
    public func _rawHashValue(seed: Int) -> Int {
        Int(truncatingIfNeeded: rawValue &* 0x9E37_79B9_7F4A_7C15) &+ seed
    }
}
