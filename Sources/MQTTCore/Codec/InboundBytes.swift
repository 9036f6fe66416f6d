import NIOCore

/// The bytes read from a connection and not decoded yet, in the order they arrived: what a channel handler
/// feeds its `MQTTPacketDecoder` from.
///
/// Reads rarely end where a packet does. The start of a packet left at the end of one read is put together with
/// its rest on its own (a buffer of the packet's size), and the rest of the next read is decoded where it lies:
/// appending every read to what was left copied each byte of a read that ended inside a packet, which with 1 KiB
/// messages is nearly every read, and moving the leftover start to the front of its buffer first copied that
/// buffer whole, at its full capacity, as the packets just decoded shared it (7% of a broker's time in fan-in at
/// 1 KiB).
public struct InboundBytes: Sendable {
    /// Decoded first: a read, or a packet put together from two.
    private var front: ByteBuffer?
    /// The rest of the read whose first bytes completed the packet in `front`.
    private var rest: ByteBuffer?

    public init() {}

    /// Bytes not decoded yet.
    public var count: Int { (front?.readableBytes ?? 0) + (rest?.readableBytes ?? 0) }

    /// Adds the bytes of a read after those already here.
    public mutating func append(_ read: ByteBuffer, allocator: ByteBufferAllocator) {
        var read = read
        if rest != nil {
            rest!.writeBuffer(&read)  // decoding paused: it waits behind the rest
        } else if front == nil || front!.readableBytes == 0 {
            front = read
        } else if let size = MQTTPacketDecoder.sizeOfNextPacket(in: front!),
                  case let missing = size - front!.readableBytes, missing > 0, missing < read.readableBytes
        {
            var joined = allocator.buffer(capacity: size)
            joined.writeBuffer(&front!)
            joined.writeImmutableBuffer(read.readSlice(length: missing)!)
            front = joined
            rest = read
        } else {
            // A split fixed header, a packet longer than this read, or whole packets held back by a pause.
            front!.discardReadBytes()
            front!.writeBuffer(&read)
        }
    }

    /// Decodes the next whole packet, or returns nil (and keeps the bytes) if there is none yet.
    public mutating func decode(with decoder: inout MQTTPacketDecoder) throws(MQTTDecodingError) -> Packet? {
        guard front != nil else { return nil }
        while true {
            if let packet = try decoder.decode(&front!) { return packet }
            guard var next = rest else { break }
            rest = nil
            if front!.readableBytes == 0 { front = next } else { front!.writeBuffer(&next) }
        }
        // What is left (the start of a packet) stays where it is: the packets just decoded share its storage, so
        // moving it to the front of its buffer would copy the buffer.
        if front!.readableBytes == 0 { front = nil }
        return nil
    }
}
