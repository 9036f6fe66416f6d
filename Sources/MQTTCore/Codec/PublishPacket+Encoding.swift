import NIOCore

extension PublishPacket {
    /// Encodes a PUBLISH from its fields, wherever they are kept, without a `PublishPacket` (or a `Packet` around
    /// it) built first: a broker delivering a stored message encodes it straight from the message, and saves the
    /// copies of topic, payload and properties (a retain and a release each) that building the packet costs.
    ///
    /// `addedProperties` follow `properties` in the property list: what one hop adds to a message (the remaining
    /// Message Expiry Interval, Subscription Identifiers, a Topic Alias). MQTT 3.1 and 3.1.1 get no properties.
    /// Throws like `Packet.encode(into:version:)`, and leaves `buffer` unchanged then.
    @inlinable
    public static func encode(
        topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, duplicate: Bool, packetIdentifier: UInt16?,
        properties: Properties, addedProperties: Properties = Properties(),
        into buffer: inout ByteBuffer, version: ProtocolVersion
    ) throws(MQTTEncodingError) {
        if topic.utf8.count > 65_535 { throw .fieldTooLong(topic.utf8.count) }
        if (qos == .atMostOnce) != (packetIdentifier == nil) { throw .packetIdentifierMismatch }
        let v5 = version.hasProperties
        if v5 {
            try properties.validateForEncoding()
            try addedProperties.validateForEncoding()
        }
        let propertyLength = v5
            ? properties.encodedContentLength(omitting: .nothing) + addedProperties.encodedContentLength(omitting: .nothing)
            : 0
        let remainingLength = bodyLength(topic: topic, payloadBytes: payload.readableBytes,
                                         hasPacketIdentifier: packetIdentifier != nil,
                                         propertyLength: v5 ? propertyLength : nil)
        guard remainingLength <= 268_435_455 else { throw .remainingLengthTooLarge(remainingLength) }

        let size = 1 + EncodedSize.variableByteInteger(remainingLength) + remainingLength
        let header = PacketType.publish.rawValue << 4 | fixedHeaderFlags(qos: qos, retain: retain, duplicate: duplicate)
        if propertyLength == 0, writeWithoutProperties(
            header: header, remainingLength: remainingLength, topic: topic, packetIdentifier: packetIdentifier,
            hasPropertyLength: v5, payload: payload, size: size, into: &buffer)
        {
            return
        }
        buffer.reserveCapacity(minimumWritableBytes: size)
        buffer.writeInteger(header)
        buffer.writeVariableByteInteger(remainingLength)
        buffer.writeMQTTString(topic)
        if let packetIdentifier { buffer.writeInteger(packetIdentifier) }
        if v5 {
            buffer.writeVariableByteInteger(propertyLength)
            for property in properties { property.write(to: &buffer) }
            for property in addedProperties { property.write(to: &buffer) }
        }
        buffer.writeImmutableBuffer(payload)
    }

    /// Writes a PUBLISH without properties (every 3.1.1 PUBLISH, and most 5.0 ones) in one pass over raw memory:
    /// one capacity and uniqueness check for the packet instead of one per field, and the topic and payload
    /// copied with `memcpy`. A broker encodes one per delivery, and the field-by-field writes were 3/4 of it.
    /// Returns false, having written nothing, for a topic whose bytes are not contiguous (a bridged string).
    @inlinable
    static func writeWithoutProperties(
        header: UInt8, remainingLength: Int, topic: String, packetIdentifier: UInt16?, hasPropertyLength: Bool,
        payload: ByteBuffer, size: Int, into buffer: inout ByteBuffer
    ) -> Bool {
        topic.utf8.withContiguousStorageIfAvailable { topicBytes in
            payload.withUnsafeReadableBytes { payloadBytes in
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
                    var index = 0
                    func put(_ byte: UInt8) {
                        out[index] = byte
                        index &+= 1
                    }
                    put(header)
                    var length = remainingLength
                    repeat {
                        put(UInt8(length & 0x7F) | (length > 0x7F ? 0x80 : 0))
                        length >>= 7
                    } while length > 0
                    put(UInt8(truncatingIfNeeded: topicBytes.count >> 8))
                    put(UInt8(truncatingIfNeeded: topicBytes.count))
                    if !topicBytes.isEmpty {
                        (out.baseAddress! + index).copyMemory(from: topicBytes.baseAddress!, byteCount: topicBytes.count)
                        index &+= topicBytes.count
                    }
                    if let packetIdentifier {
                        put(UInt8(truncatingIfNeeded: packetIdentifier >> 8))
                        put(UInt8(truncatingIfNeeded: packetIdentifier))
                    }
                    if hasPropertyLength { put(0) }
                    if payloadBytes.count > 0 {
                        (out.baseAddress! + index).copyMemory(from: payloadBytes.baseAddress!,
                                                              byteCount: payloadBytes.count)
                        index &+= payloadBytes.count
                    }
                    assert(index == size)
                    return index
                }
            }
            return true
        } ?? false
    }

    /// The number of bytes `encode(topic:...)` writes for these fields.
    @inlinable
    public static func encodedSize(
        topic: String, payloadBytes: Int, hasPacketIdentifier: Bool, properties: Properties,
        addedProperties: Properties = Properties(), version: ProtocolVersion
    ) -> Int {
        let propertyLength = version.hasProperties
            ? properties.encodedContentLength(omitting: .nothing) + addedProperties.encodedContentLength(omitting: .nothing)
            : nil
        let remainingLength = bodyLength(topic: topic, payloadBytes: payloadBytes,
                                         hasPacketIdentifier: hasPacketIdentifier, propertyLength: propertyLength)
        return 1 + EncodedSize.variableByteInteger(remainingLength) + remainingLength
    }

    /// The remaining length: topic, packet identifier, properties (nil for versions without them), payload.
    @inlinable
    static func bodyLength(topic: String, payloadBytes: Int, hasPacketIdentifier: Bool, propertyLength: Int?)
        -> Int
    {
        var length = EncodedSize.string(topic) + (hasPacketIdentifier ? 2 : 0) + payloadBytes
        if let propertyLength { length += EncodedSize.variableByteInteger(propertyLength) + propertyLength }
        return length
    }

    /// Where the packet identifier of the QoS 1 or 2 PUBLISH encoded at `start` in `buffer` lies, counted from
    /// `start`: after the fixed header (the type byte, the remaining length) and the topic (section 3.3.2). Nil when
    /// the bytes there are not a whole QoS 1 or 2 PUBLISH header. A broker that sends one message to many
    /// subscribers encodes it once and writes each subscriber's own identifier there.
    public static func packetIdentifierOffset(ofPacketAt start: Int, in buffer: ByteBuffer) -> Int? {
        guard let header = buffer.getInteger(at: start, as: UInt8.self),
              header >> 4 == PacketType.publish.rawValue, header & 0x06 != 0, header & 0x06 != 0x06
        else { return nil }
        var index = start + 1
        // The remaining length: one to four bytes, the high bit set on all but the last.
        for _ in 0..<4 {
            guard let byte = buffer.getInteger(at: index, as: UInt8.self) else { return nil }
            index += 1
            guard byte & 0x80 == 0 else { continue }
            guard let topicLength = buffer.getInteger(at: index, as: UInt16.self) else { return nil }
            let offset = index + 2 + Int(topicLength) - start
            return buffer.writerIndex - start >= offset + 2 ? offset : nil
        }
        return nil
    }

    /// Writes a copy of `packet`, the readable bytes of an encoded QoS 1 or 2 PUBLISH, with `packetIdentifier` at
    /// `offset` (its `packetIdentifierOffset`): one capacity check and one `memcpy`. (`ByteBuffer`'s own copy and
    /// `setInteger` cost more than encoding the packet anew.)
    @inlinable
    public static func writeCopy(of packet: ByteBuffer, packetIdentifier: UInt16, at offset: Int,
                                 into buffer: inout ByteBuffer)
    {
        let count = packet.readableBytes
        precondition(offset >= 0 && offset + 2 <= count, "the packet identifier lies outside the packet")
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
            packet.withUnsafeReadableBytes { source in
                target.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: count)
            }
            target[offset] = UInt8(truncatingIfNeeded: packetIdentifier >> 8)
            target[offset + 1] = UInt8(truncatingIfNeeded: packetIdentifier)
            return count
        }
    }

    /// The flags of the fixed header: DUP, QoS and RETAIN (section 3.3.1).
    @inlinable
    static func fixedHeaderFlags(qos: QoS, retain: Bool, duplicate: Bool) -> UInt8 {
        (duplicate ? 0x08 : 0) | qos.rawValue << 1 | (retain ? 0x01 : 0)
    }
}
