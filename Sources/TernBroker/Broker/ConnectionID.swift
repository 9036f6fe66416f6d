/// Identifies one network connection to the broker, for as long as the process runs.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    public var description: String { "#\(rawValue)" }

    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    // The broker and the server look connections up by identifier per packet and per delivery. Identifiers are
    // handed out in sequence by the server, never chosen by a client, so the identifier itself (mixed with the
    // table's seed) spreads them over a dictionary's buckets with no collision among those in use: SipHash per
    // lookup (UInt64's own hash, 1-2% of fan-out and of fan-in QoS 1) protected against nothing.
    public func _rawHashValue(seed: Int) -> Int { Int(truncatingIfNeeded: rawValue) ^ seed }
}
