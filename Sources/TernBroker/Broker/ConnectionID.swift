/// Identifies one network connection to the broker, for as long as the process runs.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    public var description: String { "#\(rawValue)" }

    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    // The broker and the server look connections up by identifier per packet and per delivery: forwarding to
    // UInt64's one-word hash skips a `Hasher` set-up and finalisation per lookup (the synthesized hash took one).
    public func _rawHashValue(seed: Int) -> Int { rawValue._rawHashValue(seed: seed) }
}
