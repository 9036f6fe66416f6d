import HashTreeCollections

/// The subscriptions held at one trie node for one kind (plain, or one share group): at most one per subscriber.
///
/// Up to `smallLimit` entries live in an array that matching iterates directly. Beyond that (a filter thousands
/// of clients subscribe to, like `broadcast/#`) they move to a persistent hash trie keyed by subscriber, so that
/// a SUBSCRIBE or UNSUBSCRIBE neither scans them all nor, after a snapshot was taken, copies them all.
@usableFromInline
struct SubscriberEntries<Subscriber: Hashable & Sendable>: Sendable {
    @usableFromInline typealias Entry = SubscriptionIndex<Subscriber>.Entry

    @usableFromInline var small: [Entry] = []
    /// All entries once there are more than `smallLimit`; `small` is then empty.
    @usableFromInline var large: TreeDictionary<Subscriber, Entry>?

    /// Entries beyond this count move to the hash trie; they move back below half of it.
    static var smallLimit: Int { 16 }

    init() {}

    var isEmpty: Bool { count == 0 }
    var count: Int { large?.count ?? small.count }

    func entry(for subscriber: Subscriber) -> Entry? {
        if let large { return large[subscriber] }
        return small.first { $0.subscriber == subscriber }
    }

    /// Calls `body` with each entry, in no particular order.
    @inlinable @inline(__always)
    func forEach(_ body: (Entry) -> Void) {
        if let large {
            for (_, entry) in large { body(entry) }
        } else {
            for entry in small { body(entry) }
        }
    }

    /// The entry at an offset in iteration order: O(1) for small sets, O(log count) for large ones.
    func entry(atOffset offset: Int) -> Entry {
        if let large { return large[large.index(large.startIndex, offsetBy: offset)].value }
        return small[offset]
    }

    /// Adds the entry, or replaces the one of the same subscriber; returns true if it was added.
    mutating func upsert(_ entry: Entry) -> Bool {
        if large != nil {
            return large!.updateValue(entry, forKey: entry.subscriber) == nil
        }
        if let index = small.firstIndex(where: { $0.subscriber == entry.subscriber }) {
            small[index] = entry
            return false
        }
        if small.count < Self.smallLimit {
            small.append(entry)
        } else {
            var large = TreeDictionary<Subscriber, Entry>()
            for existing in small { large[existing.subscriber] = existing }
            large[entry.subscriber] = entry
            self.large = large
            small = []
        }
        return true
    }

    /// Removes the subscriber's entry; returns it if there was one.
    mutating func remove(_ subscriber: Subscriber) -> Entry? {
        if large != nil {
            let removed = large!.removeValue(forKey: subscriber)
            if large!.count < Self.smallLimit / 2 {
                small = Array(large!.values)
                large = nil
            }
            return removed
        }
        guard let index = small.firstIndex(where: { $0.subscriber == subscriber }) else { return nil }
        return small.remove(at: index)
    }

    /// Iterates the entries without materializing an array.
    struct Iterator: IteratorProtocol {
        var small: IndexingIterator<[Entry]>?
        var large: TreeDictionary<Subscriber, Entry>.Values.Iterator?

        mutating func next() -> Entry? {
            if small != nil { return small!.next() }
            return large?.next()
        }
    }

    func makeIterator() -> Iterator {
        if let large { return Iterator(small: nil, large: large.values.makeIterator()) }
        return Iterator(small: small.makeIterator(), large: nil)
    }
}
