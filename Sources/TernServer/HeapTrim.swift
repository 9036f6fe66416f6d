#if canImport(Glibc)
import Foundation
import Glibc
#endif

/// Gives the memory the broker has freed back to the operating system, every few seconds rather than on each
/// `free`.
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
    private typealias MallocOption = @convention(c) (Int32, Int32) -> Int32
    private static let mallocOption: MallocOption? = dlsym(nil, "mallopt").map {
        unsafeBitCast($0, to: MallocOption.self)
    }
    // <malloc.h>'s M_TRIM_THRESHOLD and M_MMAP_THRESHOLD.
    private static let trimThresholdOption: Int32 = -1
    private static let mmapThresholdOption: Int32 = -3
    #endif

    /// Free memory an arena may keep at its top between trims, and the size from which an allocation is mapped
    /// from the kernel on its own (and unmapped when freed).
    static let trimThreshold: Int32 = 32 << 20
    static let mmapThreshold: Int32 = 4 << 20

    static func releaseFreeMemory() {
        #if canImport(Glibc)
        _ = mallocTrim?(0)
        #endif
    }

    /// Leaves the returning of free memory to `releaseFreeMemory`, so that the allocator stops doing it on `free`.
    ///
    /// By default a thread's arena hands the free memory at its top back to the kernel (`madvise`) as soon as it
    /// passes a threshold that glibc sets from the largest block freed so far, about a megabyte here. A subscriber
    /// of busy publishers is written several turn buffers of 256 KB per event-loop turn; freed, they passed it, and
    /// the next turn's buffers were faulted in again page by page: with 1 KiB payloads, a page fault per four
    /// messages and a fifth of the broker's time (fan-in 0.67 M to 0.92 M msg/s, 1.45 to 1.04 µs of CPU per
    /// message, `scripts/bench broker --only "1 KiB"`). Setting the thresholds fixes them (glibc stops adjusting
    /// them): up to `trimThreshold` of free memory stays at an arena's top until the next periodic trim, and blocks
    /// from `mmapThreshold` up are mapped on their own as before. A `GLIBC_TUNABLES` that sets either is left to
    /// rule. Returns whether the thresholds were set.
    @discardableResult
    static func deferTrimmingToTimer() -> Bool {
        #if canImport(Glibc)
        let tunables = ProcessInfo.processInfo.environment["GLIBC_TUNABLES"] ?? ""
        guard !tunables.contains("malloc.trim_threshold"), !tunables.contains("malloc.mmap_threshold"),
              let mallocOption
        else { return false }
        return mallocOption(trimThresholdOption, trimThreshold) == 1
            && mallocOption(mmapThresholdOption, mmapThreshold) == 1
        #else
        return false
        #endif
    }
}
