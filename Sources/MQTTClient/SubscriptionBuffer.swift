import Atomics

/// How many messages a subscription stream holds that its consumer has not taken yet, shared by the session (on
/// its event loop, which adds) and the stream's consumer (on any thread, which takes). When the count reaches the
/// limit the session stops reading from the socket; the consumer asks it to read again once it has taken the
/// stream down to half the limit. One atomic add per message on each side, no lock.
final class SubscriptionBuffer: Sendable {
    let limit: Int
    private let count = ManagedAtomic(0)
    /// True while this stream holds the socket's reading paused.
    private let pausing = ManagedAtomic(false)
    /// Called (from the consumer's thread) when the stream drained enough to read again.
    let resume: @Sendable () -> Void

    init(limit: Int, resume: @escaping @Sendable () -> Void) {
        self.limit = max(1, limit)
        self.resume = resume
    }

    private var lowWater: Int { limit / 2 }

    /// Messages added and not yet taken.
    var pending: Int { count.load(ordering: .relaxed) }

    /// A message was added to the stream; true when the stream is full and reading must pause.
    func added() -> Bool {
        count.wrappingIncrementThenLoad(ordering: .relaxed) >= limit
    }

    /// The session paused reading for this stream. False when the consumer drained it meanwhile (reading goes on).
    func paused() -> Bool {
        guard !pausing.exchange(true, ordering: .acquiringAndReleasing) else { return true }
        // The consumer may have drained the stream before it could see `pausing`: look again.
        if count.load(ordering: .acquiring) <= lowWater,
            pausing.compareExchange(expected: true, desired: false, ordering: .acquiringAndReleasing).exchanged
        {
            return false
        }
        return true
    }

    /// The consumer took a message.
    func taken() {
        let left = count.wrappingDecrementThenLoad(ordering: .acquiringAndReleasing)
        if left <= lowWater, pausing.load(ordering: .relaxed),
            pausing.compareExchange(expected: true, desired: false, ordering: .acquiringAndReleasing).exchanged
        {
            resume()
        }
    }
}
