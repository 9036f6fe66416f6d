import NIOCore
import Testing
@testable import TernServer

/// The turn buffers that `ConnectionTable` reuses: storage is reused only when nothing else holds it.
@Suite struct SpareBuffersTests {
    private let allocator = ByteBufferAllocator()

    private func storage(of buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withVeryUnsafeBytes { UnsafeRawPointer($0.baseAddress) }
    }

    private func written(_ bytes: [UInt8], capacity: Int = 1024) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: capacity)
        buffer.writeBytes(bytes)
        return buffer
    }

    @Test func aBufferNoOneHoldsIsTakenAgainEmptyWithItsStorage() {
        var spares = SpareBuffers()
        var buffer = written([1, 2, 3])
        let address = storage(of: buffer)
        spares.keep(buffer)
        buffer = ByteBuffer()  // as NIO lets a written buffer go
        let taken = spares.take(capacity: 1024, allocator: allocator)
        #expect(taken.readableBytes == 0)
        #expect(storage(of: taken) == address)
        #expect(spares.kept == 0)
    }

    @Test func aBufferStillHeldIsNeverWrittenOver() {
        var spares = SpareBuffers()
        let held = written([1, 2, 3])  // as NIO holds a write its socket had no room for
        spares.keep(held)
        var taken = spares.take(capacity: 1024, allocator: allocator)
        taken.writeBytes([9, 9, 9, 9])
        #expect(Array(held.readableBytesView) == [1, 2, 3])
        #expect(storage(of: taken) != storage(of: held))
    }

    @Test func buffersBeyondTheLargeLimitAreNotKept() {
        var spares = SpareBuffers()
        spares.keep(written([1], capacity: SpareBuffers.largestLarge + 1))
        #expect(spares.kept == 0)
        let taken = spares.take(capacity: 2048, allocator: allocator)
        #expect(taken.capacity >= 2048)
    }

    /// A few large buffers (a busy subscriber's turn) are kept apart and handed out first, with their storage.
    @Test func aFewLargeBuffersAreKeptAndTakenFirst() {
        var spares = SpareBuffers()
        spares.keep(written([1]))
        var large: [ByteBuffer] = (0..<(SpareBuffers.largeCount + 2)).map { index in
            written([UInt8(index)], capacity: SpareBuffers.largest * 8)
        }
        let addresses = large.prefix(SpareBuffers.largeCount).map(storage(of:))
        for buffer in large { spares.keep(buffer) }
        #expect(spares.kept == 1 + SpareBuffers.largeCount)
        large = []  // as NIO lets written buffers go
        let taken = spares.take(capacity: 1024, allocator: allocator)
        #expect(taken.readableBytes == 0 && taken.capacity >= SpareBuffers.largest * 8)
        #expect(storage(of: taken) == addresses.last)
    }

    @Test func atMostCountBuffersAreKept() {
        var spares = SpareBuffers()
        for index in 0..<(SpareBuffers.count + 10) { spares.keep(written([UInt8(index % 256)])) }
        #expect(spares.kept == SpareBuffers.count)
    }
}
