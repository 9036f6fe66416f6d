/// Byte-level helpers shared by the topic types. The constants are computed properties so that they fold into
/// constants in inlined code in other modules (a stored `static let` would be read through a lazy accessor).
///
/// Topic names and filters are processed as UTF-8 bytes. This is exact for MQTT's special characters: `/`, `+`,
/// `#`, `$` and U+0000 are ASCII, and in UTF-8 every byte of a multi-byte sequence is 0x80 or above, so such a byte
/// is always the character itself, never part of another one.
@usableFromInline
enum TopicBytes {
    /// Topic level separator `/`.
    @inlinable static var separator: UInt8 { UInt8(ascii: "/") }
    /// Single-level wildcard `+`.
    @inlinable static var singleLevelWildcard: UInt8 { UInt8(ascii: "+") }
    /// Multi-level wildcard `#`.
    @inlinable static var multiLevelWildcard: UInt8 { UInt8(ascii: "#") }
    /// First character of server-specific topics such as `$SYS/...` [MQTT-4.7.2-1].
    @inlinable static var dollar: UInt8 { UInt8(ascii: "$") }
    /// Topic names and filters must not encode to more than 65,535 bytes [MQTT-4.7.3-3].
    @inlinable static var maximumCount: Int { 65_535 }

    /// Calls `body` with the UTF-8 bytes of `string`; without copying for native Swift strings, which are always
    /// contiguous UTF-8 (only a bridged, non-contiguous string is copied).
    @inlinable
    static func withUTF8<Result>(_ string: String, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        if let result = string.utf8.withContiguousStorageIfAvailable(body) {
            return result
        }
        var copy = string
        return copy.withUTF8(body)
    }
}
