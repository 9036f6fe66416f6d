/// A client identifier as the broker keys sessions by it: compared and hashed byte for byte.
///
/// Swift's `String` equality treats canonically equivalent strings (a precomposed "é" and "e" with a combining
/// accent) as equal; MQTT compares UTF-8 bytes and normalises nothing, so two such identifiers are two clients.
public struct ClientIdentifier: Hashable, Sendable, Comparable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public let string: String

    public init(_ string: String) { self.string = string }

    public init(stringLiteral value: String) { self.string = value }

    public var description: String { string }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.string.utf8.elementsEqual(rhs.string.utf8)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        var string = self.string
        string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
