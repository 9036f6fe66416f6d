#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// Reads the fields of one packet's body (everything after the fixed header), throwing a typed error when a
/// field runs past the end of the packet or breaks an encoding rule of section 1.5.
///
/// It reads the buffer the packet arrived in up to `end`, where the body stops, rather than a slice of the body:
/// making that slice was 85 of the 800 instructions that decoding a PUBLISH costs the server
/// (`scripts/bench instructions --server`). Every read checks `remaining` first, so nothing past `end` is read.
@usableFromInline
struct PacketBodyReader {
    @usableFromInline var buffer: ByteBuffer
    @usableFromInline let type: PacketType
    /// The reader index at which the body ends.
    @usableFromInline let end: Int

    /// Reads all of `buffer`'s readable bytes.
    @inlinable
    init(buffer: ByteBuffer, type: PacketType) {
        self.init(buffer: buffer, type: type, length: buffer.readableBytes)
    }

    /// Reads the first `length` of `buffer`'s readable bytes, which it must have.
    @inlinable
    init(buffer: ByteBuffer, type: PacketType, length: Int) {
        self.buffer = buffer
        self.type = type
        end = buffer.readerIndex + length
    }

    @inlinable
    var remaining: Int { end &- buffer.readerIndex }

    @inlinable
    mutating func readByte() throws(MQTTDecodingError) -> UInt8 {
        guard remaining >= 1, let value = buffer.readInteger(as: UInt8.self) else { throw .truncated(type) }
        return value
    }

    @inlinable
    mutating func readUInt16() throws(MQTTDecodingError) -> UInt16 {
        guard remaining >= 2, let value = buffer.readInteger(endianness: .big, as: UInt16.self) else {
            throw .truncated(type)
        }
        return value
    }

    @inlinable
    mutating func readUInt32() throws(MQTTDecodingError) -> UInt32 {
        guard remaining >= 4, let value = buffer.readInteger(endianness: .big, as: UInt32.self) else {
            throw .truncated(type)
        }
        return value
    }

    /// A packet identifier, which must not be 0 [MQTT-2.2.1-3].
    @inlinable
    mutating func readPacketIdentifier() throws(MQTTDecodingError) -> UInt16 {
        let identifier = try readUInt16()
        guard identifier != 0 else { throw .packetIdentifierZero(type) }
        return identifier
    }

    /// A variable byte integer (section 1.5.5): at most 4 bytes, in its shortest form [MQTT-1.5.5-1].
    @inlinable
    mutating func readVariableByteInteger() throws(MQTTDecodingError) -> Int {
        guard let (value, length) = try buffer.getVariableByteInteger(at: buffer.readerIndex, before: end) else {
            throw .truncated(type)
        }
        buffer.moveReaderIndex(forwardBy: length)
        return value
    }

    /// Binary data (section 1.5.6): a two-byte length and that many bytes, as a slice sharing the packet's storage.
    @inlinable
    mutating func readBinary() throws(MQTTDecodingError) -> ByteBuffer {
        let length = Int(try readUInt16())
        guard length <= remaining, let slice = buffer.readSlice(length: length) else { throw .truncated(type) }
        return slice
    }

    /// A UTF-8 encoded string (section 1.5.4), validated [MQTT-1.5.4-1, MQTT-1.5.4-2].
    @inlinable
    mutating func readString() throws(MQTTDecodingError) -> String {
        let length = Int(try readUInt16())
        guard remaining >= length else { throw .truncated(type) }
        let result = buffer.withUnsafeReadableBytes { bytes in
            MQTTString.decode(UnsafeRawBufferPointer(rebasing: bytes.prefix(length)))
        }
        buffer.moveReaderIndex(forwardBy: length)
        return try result.get()
    }

    /// Moves past an empty property list (its length, a single 0) and returns true; otherwise moves nothing.
    /// Most PUBLISH packets carry no properties: this saves decoding the list's length through the general path.
    @inlinable
    mutating func skipEmptyProperties() -> Bool {
        guard remaining >= 1, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == 0 else { return false }
        buffer.moveReaderIndex(forwardBy: 1)
        return true
    }

    /// Moves past the next string if its bytes are those of `expected`, and returns true; otherwise moves nothing
    /// and returns false (another string, or one that runs past the packet, which `readString` then reports).
    @inlinable
    mutating func skipString(ifEqualTo expected: String) -> Bool {
        let length = expected.utf8.count
        guard length <= UInt16.max, remaining >= 2 + length,
              buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt16.self) == UInt16(length)
        else { return false }
        let equal: Bool? = buffer.withUnsafeReadableBytes { bytes in
            expected.utf8.withContiguousStorageIfAvailable { utf8 in
                length == 0 || memcmp(bytes.baseAddress! + 2, utf8.baseAddress!, length) == 0
            }
        }
        guard equal == true else { return false }  // nil: a bridged string, never a decoded one
        buffer.moveReaderIndex(forwardBy: 2 + length)
        return true
    }

    /// The rest of the packet, as a slice sharing its storage.
    @inlinable
    mutating func readRest() -> ByteBuffer {
        buffer.readSlice(length: remaining)!
    }
}

/// Decoding and validation of MQTT's UTF-8 encoded strings.
public enum MQTTString {
    /// Decodes well-formed UTF-8 without U+0000; ASCII (the common case) takes a fast path.
    @inlinable
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> Result<String, MQTTDecodingError> {
        var ascii = true
        for byte in bytes {
            if byte == 0 { return .failure(.nullCharacter) }  // [MQTT-1.5.4-2]
            if byte & 0x80 != 0 { ascii = false }
        }
        if ascii { return .success(String(decoding: bytes, as: UTF8.self)) }
        // Well-formed UTF-8 excludes overlong forms and the surrogates U+D800..U+DFFF [MQTT-1.5.4-1].
        guard let string = String(validating: bytes, as: UTF8.self) else { return .failure(.invalidUTF8) }
        return .success(string)
    }
}

extension ByteBuffer {
    /// The variable byte integer (section 1.5.5) starting at `index`, read without moving the reader index: its
    /// value and its length in bytes, or nil when the buffer's bytes (or those before index `end`) end before it
    /// does (a packet still arriving, or a field running past its packet's body).
    ///
    /// - Throws: `MQTTDecodingError.malformedVariableByteInteger` when it runs past four bytes or is not in its
    ///   shortest form [MQTT-1.5.5-1].
    @inlinable @inline(__always)
    public func getVariableByteInteger(at index: Int, before end: Int = .max) throws(MQTTDecodingError)
        -> (value: Int, length: Int)?
    {
        var value = 0
        var length = 0
        while true {
            guard index &+ length < end, let byte = getInteger(at: index &+ length, as: UInt8.self) else { return nil }
            value |= Int(byte & 0x7F) << (7 &* length)
            length &+= 1
            if byte & 0x80 == 0 {
                if byte == 0 && length > 1 { throw .malformedVariableByteInteger }
                return (value, length)
            }
            if length == 4 { throw .malformedVariableByteInteger }
        }
    }

    /// Writes a variable byte integer (section 1.5.5); `value` must be at most 268,435,455.
    @inlinable
    @discardableResult
    public mutating func writeVariableByteInteger(_ value: Int) -> Int {
        var value = value
        var written = 0
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value > 0 { byte |= 0x80 }
            writeInteger(byte)
            written += 1
        } while value > 0
        return written
    }

    /// Writes a UTF-8 encoded string with its two-byte length (section 1.5.4); the caller checked the length.
    @inlinable
    mutating func writeMQTTString(_ string: String) {
        let lengthIndex = writerIndex
        writeInteger(UInt16(0))
        let length = writeString(string)
        setInteger(UInt16(truncatingIfNeeded: length), at: lengthIndex)
    }

    /// Writes binary data with its two-byte length (section 1.5.6); the caller checked the length.
    @inlinable
    mutating func writeMQTTBinary(_ bytes: ByteBuffer) {
        writeInteger(UInt16(truncatingIfNeeded: bytes.readableBytes))
        writeImmutableBuffer(bytes)
    }
}

/// Sizes of encoded fields, for computing remaining lengths before writing.
@usableFromInline
enum EncodedSize {
    /// The number of bytes of a variable byte integer.
    @inlinable
    static func variableByteInteger(_ value: Int) -> Int {
        switch value {
        case ..<128: 1
        case ..<16_384: 2
        case ..<2_097_152: 3
        default: 4
        }
    }

    @inlinable
    static func string(_ string: String) -> Int { 2 + string.utf8.count }

    @inlinable
    static func binary(_ bytes: ByteBuffer) -> Int { 2 + bytes.readableBytes }
}
