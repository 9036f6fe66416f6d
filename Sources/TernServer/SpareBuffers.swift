import NIOCore

/// Buffers written to channels in earlier turns, kept for the turn buffers of the next connections written to
/// (`ConnectionTable`). A buffer written by a channel on the table's own loop has been let go by NIO by the time
/// `writeAndFlush` returns, so taking it again reuses its storage: that saves a new buffer's two allocations (its
/// storage object and its bytes) per connection and turn, two of the four a lone QoS 0 message cost. A buffer that NIO still holds (its socket was full, or its channel is on another loop) is never written
/// over: taken, it gets new storage, as copy-on-write has any `ByteBuffer` do.
struct SpareBuffers {
    private var buffers: [ByteBuffer] = []

    /// At most 128 buffers of at most 8 KB (1 MB in all) wait to be reused: enough for a turn of fan-out to 100.
    static let count = 128
    static let largest = 8 * 1024

    /// Keeps a buffer just handed to a channel, if there is room for it and it is not one of the large ones.
    mutating func keep(_ buffer: ByteBuffer) {
        guard buffers.count < Self.count, buffer.capacity <= Self.largest else { return }
        buffers.append(buffer)
    }

    /// An empty buffer: a kept one if there is any, else a new one of `capacity` bytes from `allocator`.
    mutating func take(capacity: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard var buffer = buffers.popLast() else { return allocator.buffer(capacity: capacity) }
        buffer.clear()  // keeps the storage when this is its only holder
        return buffer
    }

    /// How many buffers are kept.
    var kept: Int { buffers.count }
}
