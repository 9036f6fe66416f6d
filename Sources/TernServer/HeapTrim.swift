#if canImport(Glibc)
import Glibc
#endif

/// Gives the memory the broker has freed back to the operating system.
///
/// glibc's allocator keeps freed memory in its arenas for reuse: after a burst (offline queues filled and then
/// drained, a connection storm, a wildcard subscribe over many retained messages) the broker's resident size would
/// stay at the burst's peak though the memory is free. `malloc_trim(0)` returns the free pages. The server calls
/// this every few seconds on its thread pool, never on the event loop; it costs about a millisecond per hundred
/// megabytes of heap.
enum HeapTrim {
    #if canImport(Glibc)
    // Looked up at run time: Swift's Glibc module does not export <malloc.h>.
    private typealias MallocTrim = @convention(c) (Int) -> Int32
    private static let mallocTrim: MallocTrim? = dlsym(nil, "malloc_trim").map {
        unsafeBitCast($0, to: MallocTrim.self)
    }
    #endif

    static func releaseFreeMemory() {
        #if canImport(Glibc)
        _ = mallocTrim?(0)
        #endif
    }
}
