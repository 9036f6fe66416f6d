import NIOCore

/// Buffers written to channels in earlier turns, kept for the turn buffers of the next connections written to
/// (`ConnectionTable`). A buffer written by a channel on the table's own loop has been let go by NIO by the time
/// `writeAndFlush` returns, so taking it again reuses its storage: that saves a new buffer's two allocations (its
/// storage object and its bytes) per connection and turn, two of the four a lone QoS 0 message cost. A buffer that NIO still holds (its socket was full, or its channel is on another loop) is never written
/// over: taken, it gets new storage, as copy-on-write has any `ByteBuffer` do.
///
/// A few large buffers are kept too: a subscriber of busy publishers fills a turn buffer of hundreds of KB each
/// turn, and a new one grew to that size by reallocation (copying what it held each time) and, freed, was handed
/// back to the kernel by the allocator and faulted in page by page the next turn: 3-4% of fan-in in page faults.
struct SpareBuffers {
    private var buffers: [ByteBuffer] = []
    private var largeBuffers: [ByteBuffer] = []

    /// At most 128 buffers of at most 8 KB (1 MB in all) wait to be reused: enough for a turn of fan-out to 100.
    static let count = 128
    static let largest = 8 * 1024
    /// And at most 4 of up to 512 KB (a turn buffer is written out at 256 KB, `ConnectionTable.pendingLimit`,
    /// plus the packet that passed it): 2 MB at most.
    static let largeCount = 4
    static let largestLarge = 512 * 1024

    /// Keeps a buffer just handed to a channel, if there is room for it and it is not too large.
    mutating func keep(_ buffer: ByteBuffer) {
        if buffer.capacity <= Self.largest {
            if buffers.count < Self.count { buffers.append(buffer) }
        } else if buffer.capacity <= Self.largestLarge, largeBuffers.count < Self.largeCount {
            largeBuffers.append(buffer)
        }
    }

    /// An empty buffer: a kept one if there is any, else a new one of `capacity` bytes from `allocator`. A large
    /// one goes first: small ones are nearly always kept, so a large one taken last would never be reached again
    /// and the busy subscriber's buffer would grow anew each turn.
    mutating func take(capacity: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard var buffer = largeBuffers.popLast() ?? buffers.popLast() else {
            return allocator.buffer(capacity: capacity)
        }
        buffer.clear()  // keeps the storage when this is its only holder
        return buffer
    }

    /// How many buffers are kept.
    var kept: Int { buffers.count + largeBuffers.count }
}
