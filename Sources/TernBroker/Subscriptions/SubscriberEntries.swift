/// The subscriptions held at one trie node for one kind (plain, or one share group): at most one per subscriber.
///
/// The entries live in one array that matching reads in place. Beyond `indexedLimit` entries (a filter thousands
/// of clients subscribe to, like `broadcast/#`) a dictionary gives each subscriber's position, so that a SUBSCRIBE
/// or UNSUBSCRIBE does not scan them all; a removal then moves the last entry into the freed place.
///
/// A node that a copy of the index shares is cloned whole at its first change (its entries with it): the broker
/// keeps one index and changes it in place.
@usableFromInline
struct SubscriberEntries<Subscriber: Hashable & Sendable>: Sendable {
    @usableFromInline typealias Entry = SubscriptionIndex<Subscriber>.Entry

    @usableFromInline var entries: [Entry] = []
    /// Each subscriber's index in `entries`, once there are more than `indexedLimit` of them.
    @usableFromInline var positions: [Subscriber: Int]?

    /// Beyond this count the positions are indexed; below half of it they are scanned for again.
    static var indexedLimit: Int { 16 }

    init() {}

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }

    private func position(of subscriber: Subscriber) -> Int? {
        if let positions { return positions[subscriber] }
        return entries.firstIndex { $0.subscriber == subscriber }
    }

    func entry(for subscriber: Subscriber) -> Entry? {
        position(of: subscriber).map { entries[$0] }
    }

    /// Calls `body` with each entry, in no particular order.
    @inlinable
    func forEach(_ body: (Entry) -> Void) {
        forEachInPlace { body($0.pointee) }
    }

    /// Calls `body` with where each entry lies, in no particular order: routing reads the fields it needs through
    /// the pointer. An entry passed by value is copied, even when lent from the array (a retain and a release of
    /// the subscriber's identifier and of the filter per delivery); with the entries copied out of a hash trie
    /// before, that was 12 of the 36 reference-count operations per delivery in fan-out to 100 subscribers.
    /// `body` must not change the index (nothing in routing does; the nodes walked are not retained either).
    @inlinable @inline(__always)
    func forEachInPlace(_ body: (UnsafePointer<Entry>) -> Void) {
        entries.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            for index in buffer.indices { body(base + index) }
        }
    }

    /// The entry at an offset in iteration order.
    func entry(atOffset offset: Int) -> Entry { entries[offset] }

    /// Adds the entry, or replaces the one of the same subscriber; returns true if it was added.
    mutating func upsert(_ entry: Entry) -> Bool {
        if let index = position(of: entry.subscriber) {
            entries[index] = entry
            return false
        }
        entries.append(entry)
        if positions != nil {
            positions![entry.subscriber] = entries.count - 1
        } else if entries.count > Self.indexedLimit {
            positions = Dictionary(uniqueKeysWithValues: entries.indices.map { (entries[$0].subscriber, $0) })
        }
        return true
    }

    /// Removes the subscriber's entry; returns it if there was one.
    mutating func remove(_ subscriber: Subscriber) -> Entry? {
        guard let index = position(of: subscriber) else { return nil }
        guard positions != nil else { return entries.remove(at: index) }
        positions![subscriber] = nil
        let last = entries.count - 1
        if index != last {
            entries.swapAt(index, last)
            positions![entries[index].subscriber] = index
        }
        let removed = entries.removeLast()
        if entries.count < Self.indexedLimit / 2 { positions = nil }
        return removed
    }

    typealias Iterator = IndexingIterator<[Entry]>

    func makeIterator() -> Iterator { entries.makeIterator() }
}
