import CoreMetrics
import Foundation
import NIOCore
import TernBroker

/// The one thread that commits the broker's changes to its store (group commit).
///
/// The event loop submits each turn's changes as a numbered batch and goes on; the writer takes every batch
/// pending, optionally waits `commitWindow` for more, commits them all in one transaction (one sync for many
/// clients), then reports the highest batch number committed. Batches are committed in order, so "batch n is
/// committed" means every batch up to n is. A failed commit is reported, and its changes are retried, first,
/// with the next commit (every change is idempotent), at the latest after `retryInterval`. Rows written and
/// deleted again within one commit's changes are not written (`StoreChange.droppingWritesDeletedLater`).
///
/// The writer also reads pages of stored queues (`readQueuePage`): a read waits until every batch submitted
/// before it is committed, so it sees every message the broker queued before it asked.
final class StoreWriter: @unchecked Sendable {
    // Mutable state is guarded by `condition`; `store` is used by the writer thread only once started.
    enum Outcome: Sendable {
        case committed(through: UInt64)
        case failed(through: UInt64, Error)
    }

    private let store: any BrokerStore & Sendable
    private let commitWindow: TimeAmount
    private let retryInterval: TimeInterval = 1
    private let report: @Sendable (Outcome) -> Void
    private let condition = NSCondition()
    private var pending: [StoreChange] = []
    private var lastSubmitted: UInt64 = 0
    private var committedThrough: UInt64 = 0
    private struct QueueRead {
        let request: QueuePageRequest
        let afterBatch: UInt64
        let completion: @Sendable (Result<[StoredQueuedMessage], Error>) -> Void
    }
    private var reads: [QueueRead] = []
    private var stopping = false
    private var thread: Thread?
    private let finished = NSCondition()
    private var isFinished = false

    init(store: any BrokerStore & Sendable, commitWindow: TimeAmount,
         report: @escaping @Sendable (Outcome) -> Void)
    {
        self.store = store
        self.commitWindow = commitWindow
        self.report = report
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "tern-store-writer"
        self.thread = thread
        thread.start()
    }

    /// Hands one turn's changes to the writer; returns the batch's number.
    func submit(_ changes: [StoreChange]) -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        lastSubmitted += 1
        // Moved rather than appended when nothing waits: appending copies each change (a retain of each of its
        // strings and messages).
        if pending.isEmpty { pending = changes } else { pending.append(contentsOf: changes) }
        condition.signal()
        return lastSubmitted
    }

    /// Reads a page of a session's queue once the batches submitted so far are committed; `completion` runs on
    /// the writer thread.
    func readQueuePage(_ request: QueuePageRequest,
                       completion: @escaping @Sendable (Result<[StoredQueuedMessage], Error>) -> Void)
    {
        condition.lock()
        defer { condition.unlock() }
        reads.append(QueueRead(request: request, afterBatch: lastSubmitted, completion: completion))
        condition.signal()
    }

    /// Takes the reads whose batches are committed; call with `condition` locked.
    private func takeDueReads() -> [QueueRead] {
        guard reads.contains(where: { $0.afterBatch <= committedThrough }) else { return [] }
        let due = reads.filter { $0.afterBatch <= committedThrough }
        reads.removeAll { $0.afterBatch <= committedThrough }
        return due
    }

    private func perform(_ reads: [QueueRead]) {
        for read in reads {
            read.completion(Result {
                try store.queuedMessages(clientID: read.request.clientID, after: read.request.after,
                                         limit: read.request.limit)
            })
        }
    }

    /// Commits what is pending, then stops the thread; returns when it has stopped.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
        finished.lock()
        while !isFinished && thread != nil { finished.wait() }
        finished.unlock()
    }

    private func run() {
        var retry: [StoreChange] = []
        while true {
            condition.lock()
            var due = takeDueReads()
            while pending.isEmpty && !stopping && due.isEmpty {
                if retry.isEmpty {
                    condition.wait()
                } else if !condition.wait(until: Date(timeIntervalSinceNow: retryInterval)) {
                    break
                }
                due = takeDueReads()
            }
            if pending.isEmpty && retry.isEmpty {
                condition.unlock()
                if stopping { break }
                perform(due)
                continue
            }
            if commitWindow > .zero && !stopping {
                // Let other turns' changes join this commit.
                condition.unlock()
                Thread.sleep(forTimeInterval: Double(commitWindow.nanoseconds) / 1e9)
                condition.lock()
            }
            var changes: [StoreChange] = []
            swap(&changes, &pending)
            if !retry.isEmpty { changes = retry + changes }
            let through = lastSubmitted
            let giveUp = stopping && !retry.isEmpty
            condition.unlock()
            changes = StoreChange.droppingWritesDeletedLater(changes)
            do {
                let started = DispatchTime.now().uptimeNanoseconds
                try store.commit(changes)
                // Looked up per commit: the metrics backend is bootstrapped after the writer starts.
                CoreMetrics.Timer(label: "tern_store_commit_duration_seconds")
                    .recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
                retry = []
                condition.lock()
                committedThrough = through
                condition.unlock()
                report(.committed(through: through))
            } catch {
                retry = changes
                report(.failed(through: through, error))
                if giveUp { break }  // stopping, and the store still fails: what is lost was never acknowledged
            }
            perform(due)
        }
        finished.lock()
        isFinished = true
        finished.broadcast()
        finished.unlock()
    }
}
