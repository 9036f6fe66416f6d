import Foundation
import Testing
@testable import TernServer

/// The allocator's trimming, left to the server's timer.
@Suite struct HeapTrimTests {
    @Test func theThresholdsAreSetUnlessTheEnvironmentSetsThem() {
        let tunables = ProcessInfo.processInfo.environment["GLIBC_TUNABLES"] ?? ""
        let setByEnvironment = tunables.contains("malloc.trim_threshold") || tunables.contains("malloc.mmap_threshold")
        #if canImport(Glibc)
        #expect(HeapTrim.deferTrimmingToTimer() == !setByEnvironment)
        #endif
        HeapTrim.releaseFreeMemory()  // and the periodic trim still runs
    }
}
