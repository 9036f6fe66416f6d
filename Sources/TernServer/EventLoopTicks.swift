import Atomics
import NIOPosix

/// Counts the ticks of an event loop: NIO calls `processedTick` once per turn of its loop, after the tasks that
/// follow each poll of the sockets. A count that has not moved since some moment means the loop has not polled
/// its sockets since: `ConnectionTable` uses that to let a retained batch wait until other clients were read.
/// (With a delegate, NIO reads the clock twice per tick for the tick's figures: tens of nanoseconds, after the
/// tick's writes.)
final class EventLoopTicks: NIOEventLoopMetricsDelegate {
    private let count = ManagedAtomic<UInt64>(0)

    /// The ticks completed so far. Read on the loop that NIO counts (relaxed: the loop is the only writer).
    var completed: UInt64 { count.load(ordering: .relaxed) }

    func processedTick(info: NIOEventLoopTickInfo) {
        count.wrappingIncrement(ordering: .relaxed)
    }
}
