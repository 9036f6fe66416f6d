import NIOCore
import NIOPosix
import Testing
@testable import TernServer

/// What the retained turns rely on (`ConnectionTable.scheduleRetainedTurn`): NIO runs a task queued by another task
/// in the same tick, before it polls its sockets, and a task not yet due at the end of a tick after a poll.
@Suite struct EventLoopTicksTests {
    /// Runs `body` on the loop of a group whose ticks `ticks` counts, and returns what it completes with.
    private func onLoop<T: Sendable>(
        _ body: @escaping @Sendable (EventLoop, EventLoopTicks, EventLoopPromise<T>) -> Void
    ) async throws -> T {
        let ticks = EventLoopTicks()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1, metricsDelegate: ticks)
        let loop = group.next()
        let promise = loop.makePromise(of: T.self)
        loop.execute { body(loop, ticks, promise) }
        let result = try await promise.futureResult.get()
        try await group.shutdownGracefully()
        return result
    }

    @Test func aTaskQueuedByATaskRunsInTheSameTick() async throws {
        let (before, after) = try await onLoop { loop, ticks, promise in
            let before = ticks.completed
            loop.execute { promise.succeed((before, ticks.completed)) }
        }
        #expect(before == after)
    }

    @Test func aTaskDueLaterRunsInALaterTick() async throws {
        let (before, after) = try await onLoop { loop, ticks, promise in
            let before = ticks.completed
            loop.scheduleTask(in: .milliseconds(20)) { promise.succeed((before, ticks.completed)) }
        }
        #expect(after > before)
    }
}
