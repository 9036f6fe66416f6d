/// Byte-level helpers for topic names and filters, shared by the topic types here and the broker's indexes. The constants are computed properties so that they fold into
/// constants in inlined code in other modules (a stored `static let` would be read through a lazy accessor).
///
/// Topic names and filters are processed as UTF-8 bytes. This is exact for MQTT's special characters: `/`, `+`,
/// `#`, `$` and U+0000 are ASCII, and in UTF-8 every byte of a multi-byte sequence is 0x80 or above, so such a byte
/// is always the character itself, never part of another one.
public enum TopicBytes {
    /// Topic level separator `/`.
    @inlinable public static var separator: UInt8 { UInt8(ascii: "/") }
    /// Single-level wildcard `+`.
    @inlinable public static var singleLevelWildcard: UInt8 { UInt8(ascii: "+") }
    /// Multi-level wildcard `#`.
    @inlinable public static var multiLevelWildcard: UInt8 { UInt8(ascii: "#") }
    /// First character of server-specific topics such as `$SYS/...` [MQTT-4.7.2-1].
    @inlinable public static var dollar: UInt8 { UInt8(ascii: "$") }
    /// Topic names and filters must not encode to more than 65,535 bytes [MQTT-4.7.3-3].
    @inlinable public static var maximumCount: Int { 65_535 }

    /// Calls `body` with the UTF-8 bytes of `string`; without copying for native Swift strings, which are always
    /// contiguous UTF-8 (only a bridged, non-contiguous string is copied).
    @inlinable @inline(__always)
    public static func withUTF8<Result>(_ string: String, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        if let result = string.utf8.withContiguousStorageIfAvailable(body) {
            return result
        }
        var copy = string
        return copy.withUTF8(body)
    }

    /// The levels of a topic name or filter, empty levels included (`a//b` has three, `/a` two).
    public static func levels(of string: String) -> [[UInt8]] {
        string.utf8.split(separator: separator, omittingEmptySubsequences: false).map { Array($0) }
    }

    /// The end of the level starting at `start`: the index of the next separator or the end of the bytes.
    @inlinable @inline(__always)
    public static func levelEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var end = start
        while end < bytes.count && bytes[end] != separator { end &+= 1 }
        return end
    }

    /// The bytes of one level, `start..<end`, as a raw buffer.
    @inlinable @inline(__always)
    public static func level(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<end]))
    }

    /// Whether two byte buffers hold the same bytes (compared eight at a time).
    @inlinable
    public static func equal(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
        let count = lhs.count
        guard count == rhs.count else { return false }
        var offset = 0
        while offset &+ 8 <= count {
            if lhs.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                != rhs.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            {
                return false
            }
            offset &+= 8
        }
        while offset < count {
            if lhs[offset] != rhs[offset] { return false }
            offset &+= 1
        }
        return true
    }
}
