import MQTTCore

/// A walk over the retained messages a topic filter matches that can stop after any number of them and go on
/// later: the broker sends the retained messages of a SUBSCRIBE a batch at a time, as the subscriber's window and
/// socket take them, instead of all at once.
///
/// The cursor holds the trie nodes it has still to visit, and the index's slots. Since `RetainedIndex` copies a
/// node or a chunk of slots before changing a shared one, the walk sees the index as it was when the cursor was
/// made, whatever is set or cleared meanwhile; the broker looks each topic up again before sending it (see
/// `Broker.continueRetained`).
///
/// The filter `#` reads the slots in order instead of walking the trie: every topic but the `$` ones matches it,
/// and the slots lie in memory about as the messages do (see `RetainedSlots`).
public struct RetainedMatchCursor<Value> {
    private let filter: [UInt8]
    private let slots: RetainedSlots<Value>
    /// For the filter `#`: the slots still to read.
    private var scan: Range<Int>
    /// Nodes to visit, with the offset in `filter` of the level each has to match, or `Self.entryOnly` (the
    /// filter is used up: the node's own message matches) or `Self.wholeSubtree` (below a `#`).
    private var pending: [(node: RetainedNode<Value>, position: Int)]
    private static var entryOnly: Int { -1 }
    private static var wholeSubtree: Int { -2 }
    private static var prefetchDistance: Int { 8 }

    /// A cursor over the retained topics `filter` (a valid filter without `$share/{group}/`) matches in `index`.
    public init(_ index: RetainedIndex<Value>, filter: String) {
        self.filter = Array(filter.utf8)
        self.slots = index.slots
        if filter == "#" {
            self.scan = 0..<index.slots.end
            self.pending = []
        } else {
            self.scan = 0..<0
            self.pending = [(index.root, 0)]
        }
    }

    /// Whether every match has been visited.
    public var isFinished: Bool { pending.isEmpty && scan.isEmpty }

    /// Calls `body` with the next matches, in no particular order, until the walk is finished or `body` returns
    /// false: the match it refused is the first one of the next call.
    ///
    /// A named level follows one child, `+` every child, `#` the whole subtree, including the parent level (`a/#`
    /// matches `a`) [MQTT-4.7.1-2]. A filter starting with a wildcard does not match topics starting with `$`
    /// [MQTT-4.7.2-1].
    public mutating func next(_ body: (String, Value) -> Bool) {
        next(prefetching: { _ in }, body)
    }

    /// The same, calling `prefetch` with the value `prefetchDistance` slots ahead of the one `body` gets next while
    /// the filter `#` reads the slots in order. A million retained messages lie in a million places on the heap:
    /// the first touch of each (the retain of its copy) waited for memory, a third of the time of the delivery.
    /// Asking for the next ones' memory early lets the processor fetch them while it sends this one: 1,000,000
    /// retained messages to a `#` subscriber in 0.29-0.32 instead of 0.35 s (medians of 5 alternating runs; 16
    /// slots ahead was no better than 8).
    public mutating func next(prefetching prefetch: (borrowing Value) -> Void, _ body: (String, Value) -> Bool) {
        while let slot = scan.first {
            if slot &+ Self.prefetchDistance < scan.upperBound {
                slots.withValue(at: slot &+ Self.prefetchDistance, prefetch)
            }
            if let entry = slots[slot], entry.topic.utf8.first != TopicBytes.dollar,  // [MQTT-4.7.2-1]
                !body(entry.topic, entry.value)
            {
                return
            }
            scan = slot + 1..<scan.upperBound
        }
        while let (node, position) = pending.popLast() {
            if position == Self.wholeSubtree {
                let first = pending.count
                node.children.forEach { pending.append(($1, Self.wholeSubtree)) }
                visitInMemoryOrder(from: first)
                pending.append((node, Self.entryOnly))
                continue
            }
            if position == Self.entryOnly {
                if let slot = node.slot, let entry = slots[slot], !body(entry.topic, entry.value) {
                    pending.append((node, Self.entryOnly))
                    return
                }
                continue
            }
            let atRoot = position == 0  // levels below the root start after a separator
            var end = position
            while end < filter.count && filter[end] != TopicBytes.separator { end += 1 }
            let next = end == filter.count ? Self.entryOnly : end + 1
            let level = filter[position..<end]
            if level.count == 1 && level.first == TopicBytes.multiLevelWildcard {
                let first = pending.count
                node.children.forEach { key, child in
                    if atRoot && key.first == TopicBytes.dollar { return }  // [MQTT-4.7.2-1]
                    pending.append((child, Self.wholeSubtree))
                }
                visitInMemoryOrder(from: first)
                pending.append((node, Self.entryOnly))
            } else if level.count == 1 && level.first == TopicBytes.singleLevelWildcard {
                let first = pending.count
                node.children.forEach { key, child in
                    if atRoot && key.first == TopicBytes.dollar { return }  // [MQTT-4.7.2-1]
                    pending.append((child, next))
                }
                visitInMemoryOrder(from: first)
            } else if let child = node.children.node(for: Array(level)) {
                pending.append((child, next))
            }
        }
    }
}

extension RetainedMatchCursor {
    /// Orders the children just pushed (from `start`) so that they are visited by ascending address.
    ///
    /// A wide level keeps its children in a hash trie, which hands them out in hash order: scattered over the
    /// heap, so each retained message sent cost several cache misses (its node, topic, message and payload),
    /// most of the time of a million-message delivery. The nodes and what they hold were allocated in the order
    /// the messages were retained, close together: visited by address, they are read almost sequentially. The
    /// sort costs a fraction of one miss per child; narrow levels are left as they are.
    private mutating func visitInMemoryOrder(from start: Int) {
        guard pending.count - start >= 64 else { return }
        pending.withUnsafeMutableBufferPointer { all in
            // Sorted as plain addresses: the result is a permutation of the same references, so no reference count
            // changes, and the sort's moves need no retain and release each (a generic sort of the tuples spent
            // more on those than the walk saved). Descending, since the walk pops from the end.
            let children = UnsafeMutableBufferPointer(rebasing: all[start...])
            children.withMemoryRebound(to: (address: UInt, position: Int).self) { entries in
                var entries = entries  // the buffer pointer, not the memory
                entries.sort { $0.address > $1.address }
            }
        }
    }
}

extension RetainedMatchCursor: Sendable where Value: Sendable {}
