import MQTTCore
import Synchronization
import Testing

@testable import TernBroker

/// Where the writer publishes snapshots for the readers.
@available(macOS 15, *)
final class PublishedIndex: Sendable {
    let snapshot = Mutex(SubscriptionIndex<String>())
}

@Suite struct SubscriptionIndexConcurrencyTests {
    /// One writer mutates its own copy and publishes a snapshot after each write; readers on other threads match
    /// against whatever snapshot they took. Every subscription matches `t/x`, so each snapshot must report
    /// exactly `count` matches for it, however the writer moves on meanwhile. (Also run under
    /// `swift test --sanitize=thread`.)
    @Test func readersMatchSnapshotsWhileTheWriterMutates() async {
        guard #available(macOS 15, *) else { return }
        let published = PublishedIndex()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var writer = SubscriptionIndex<String>()
                for step in 0..<2000 {
                    let subscriber = "c\(step % 97)"
                    switch step % 5 {
                    case 0, 1: writer.subscribe("t/+", subscriber: subscriber, options: SubscriptionOptions())
                    case 2: writer.subscribe("t/x", shareGroup: "g\(step % 3)", subscriber: subscriber,
                                             options: SubscriptionOptions())
                    case 3: writer.subscribe("+/#", subscriber: "d\(step % 41)", options: SubscriptionOptions())
                    default: writer.removeAll(for: subscriber)
                    }
                    let snapshot = writer
                    published.snapshot.withLock { $0 = snapshot }
                }
            }
            for _ in 0..<2 {
                group.addTask {
                    for _ in 0..<1000 {
                        let snapshot = published.snapshot.withLock { $0 }
                        let matched = snapshot.matches(topicName: "t/x")
                        #expect(matched.count == snapshot.count)
                        if matched.count != snapshot.count { return }
                    }
                }
            }
        }
    }
}
