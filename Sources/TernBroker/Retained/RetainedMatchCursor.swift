import MQTTCore

/// A walk over the retained messages a topic filter matches that can stop after any number of them and go on
/// later: the broker sends the retained messages of a SUBSCRIBE a batch at a time, as the subscriber's window and
/// socket take them, instead of all at once.
///
/// The cursor holds the trie nodes it has still to visit. Since `RetainedIndex` copies a node before changing a
/// shared one, the walk sees the index as it was when the cursor was made, whatever is set or cleared meanwhile;
/// the broker looks each topic up again before sending it (see `Broker.continueRetained`).
public struct RetainedMatchCursor<Value> {
    private let filter: [UInt8]
    /// Nodes to visit, with the offset in `filter` of the level each has to match, or `Self.entryOnly` (the
    /// filter is used up: the node's own message matches) or `Self.wholeSubtree` (below a `#`).
    private var pending: [(node: RetainedNode<Value>, position: Int)]
    private static var entryOnly: Int { -1 }
    private static var wholeSubtree: Int { -2 }

    /// A cursor over the retained topics `filter` (a valid filter without `$share/{group}/`) matches in `index`.
    public init(_ index: RetainedIndex<Value>, filter: String) {
        self.filter = Array(filter.utf8)
        self.pending = [(index.root, 0)]
    }

    /// Whether every match has been visited.
    public var isFinished: Bool { pending.isEmpty }

    /// Calls `body` with the next matches, in no particular order, until the walk is finished or `body` returns
    /// false: the match it refused is the first one of the next call.
    ///
    /// A named level follows one child, `+` every child, `#` the whole subtree, including the parent level (`a/#`
    /// matches `a`) [MQTT-4.7.1-2]. A filter starting with a wildcard does not match topics starting with `$`
    /// [MQTT-4.7.2-1].
    public mutating func next(_ body: (String, Value) -> Bool) {
        while let (node, position) = pending.popLast() {
            if position == Self.wholeSubtree {
                node.children.forEach { pending.append(($1, Self.wholeSubtree)) }
                pending.append((node, Self.entryOnly))
                continue
            }
            if position == Self.entryOnly {
                if let entry = node.entry, !body(entry.topic, entry.value) {
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
                node.children.forEach { key, child in
                    if atRoot && key.first == TopicBytes.dollar { return }  // [MQTT-4.7.2-1]
                    pending.append((child, Self.wholeSubtree))
                }
                pending.append((node, Self.entryOnly))
            } else if level.count == 1 && level.first == TopicBytes.singleLevelWildcard {
                node.children.forEach { key, child in
                    if atRoot && key.first == TopicBytes.dollar { return }  // [MQTT-4.7.2-1]
                    pending.append((child, next))
                }
            } else if let child = node.children.node(for: Array(level)) {
                pending.append((child, next))
            }
        }
    }
}

extension RetainedMatchCursor: Sendable where Value: Sendable {}
