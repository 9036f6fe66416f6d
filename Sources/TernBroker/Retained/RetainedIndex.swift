import MQTTCore
/// Retained messages keyed by topic name, in a trie of topic levels, for answering a SUBSCRIBE.
///
/// A value with copy-on-write nodes and path copying, like `SubscriptionIndex`: a copy shares every node, and a
/// write clones only the nodes on its topic's path, so snapshots can be read on other threads while one writer
/// goes on. Topic levels are compared as UTF-8 bytes, without normalization [MQTT-4.7.3-4].
///
/// `Value` is whatever the broker keeps for a retained message (the message itself, or a store reference).
/// Storing and clearing are the caller's decisions: a retained PUBLISH replaces the topic's message
/// [MQTT-3.3.1-5], and one with an empty payload removes it [MQTT-3.3.1-6] — `set(topic, nil)`.
public struct RetainedIndex<Value> {
    @usableFromInline var root = RetainedNode<Value>()
    /// The topic names and values, in the slots the nodes refer to.
    @usableFromInline var slots = RetainedSlots<Value>()

    /// The number of topics with a retained value.
    public private(set) var count = 0
    /// Changes with every set or removal: a `RetainedMatchCursor` made at the same generation sees what the index
    /// holds now.
    public private(set) var generation: UInt64 = 0

    /// An empty index.
    public init() {}

    /// Whether no topic has a retained value.
    public var isEmpty: Bool { count == 0 }

    /// Sets the value retained on a topic name, or removes it when `value` is nil (pruning the trie nodes left
    /// empty).
    ///
    /// - Parameter topic: A valid topic name (non-empty, no wildcards).
    /// - Returns: the value previously retained on the topic, if any.
    @discardableResult
    public mutating func set(_ topic: String, _ value: Value?) -> Value? {
        let levels = TopicBytes.levels(of: topic)
        guard let value else { return remove(levels) }
        if !isKnownUniquelyReferenced(&root) { root = root.clone() }
        var node = root
        for level in levels {
            node = node.uniqueChild(forLevel: level)
        }
        generation &+= 1
        if let slot = node.slot {
            let previous = slots[slot]?.value
            slots.replace(slot, with: (topic, value))
            return previous
        }
        count += 1
        node.slot = slots.insert((topic, value))
        return nil
    }

    private mutating func remove(_ levels: [[UInt8]]) -> Value? {
        // Look before writing, so that removing nothing copies nothing.
        guard node(forLevels: levels)?.slot != nil else { return nil }
        if !isKnownUniquelyReferenced(&root) { root = root.clone() }
        var path: [(parent: RetainedNode<Value>, level: [UInt8])] = []
        path.reserveCapacity(levels.count)
        var node = root
        for level in levels {
            let child = node.uniqueChild(forLevel: level)
            path.append((node, level))
            node = child
        }
        let slot = node.slot!
        let previous = slots[slot]?.value
        node.slot = nil
        count -= 1
        slots.remove(slot)
        generation &+= 1
        while let (parent, level) = path.popLast(), node.isEmpty {
            parent.children.removeNode(for: level)
            node = parent
        }
        return previous
    }

    /// The value retained on a topic name, if any.
    @inlinable
    public func value(for topic: String) -> Value? {
        TopicBytes.withUTF8(topic) { bytes in
            var node = root
            var position = 0
            while true {
                let end = TopicBytes.levelEnd(bytes, from: position)
                let level = TopicBytes.level(bytes, position, end)
                guard let child = node.children.node(for: level) else { return nil }
                node = child
                if end == bytes.count { return node.slot.flatMap { slots[$0]?.value } }
                position = end + 1
            }
        }
    }

    private func node(forLevels levels: [[UInt8]]) -> RetainedNode<Value>? {
        var node = root
        for level in levels {
            guard let child = node.child(forLevel: level) else { return nil }
            node = child
        }
        return node
    }

    /// Calls `body` with each retained topic name that a topic filter matches, and its value, in no particular
    /// order.
    ///
    /// Walks only the branches the filter can match: a named level follows one child, `+` every child, `#` the
    /// whole subtree, including the parent level (`a/#` matches `a`) [MQTT-4.7.1-2]. A filter starting with a
    /// wildcard does not match topics starting with `$` [MQTT-4.7.2-1].
    ///
    /// - Parameter filter: A valid topic filter (without any `$share/{group}/` prefix).
    @inlinable
    public func forEachMatch(filter: String, _ body: (String, Value) -> Void) {
        TopicBytes.withUTF8(filter) { filter in
            // (node, offset of the filter level it is to match, or -1 when the filter is consumed)
            var pending: [(node: RetainedNode<Value>, position: Int)] = [(root, 0)]
            while let (node, position) = pending.popLast() {
                if position < 0 {
                    if let slot = node.slot, let entry = slots[slot] { body(entry.topic, entry.value) }
                    continue
                }
                let atRoot = position == 0  // levels below the root start after a separator
                let end = TopicBytes.levelEnd(filter, from: position)
                let next = end == filter.count ? -1 : end + 1
                let level = TopicBytes.level(filter, position, end)
                if level.count == 1 && level[0] == TopicBytes.multiLevelWildcard {
                    if let slot = node.slot, let entry = slots[slot] { body(entry.topic, entry.value) }
                    node.children.forEach { key, child in
                        if atRoot && key.first == TopicBytes.dollar { return }  // [MQTT-4.7.2-1]
                        forEachValue(under: child, body)
                    }
                } else if level.count == 1 && level[0] == TopicBytes.singleLevelWildcard {
                    node.children.forEach { key, child in
                        if atRoot && key.first == TopicBytes.dollar { return }  // [MQTT-4.7.2-1]
                        pending.append((child, next))
                    }
                } else if let child = node.children.node(for: level) {
                    pending.append((child, next))
                }
            }
        }
    }

    /// All retained topics a filter matches, with their values; mainly for tests.
    public func matches(filter: String) -> [(topic: String, value: Value)] {
        var result: [(topic: String, value: Value)] = []
        forEachMatch(filter: filter) { result.append(($0, $1)) }
        return result
    }

    /// The number of trie nodes, root included (for tests of pruning and path copying).
    var trieNodeCount: Int {
        var count = 0
        var pending = [root]
        while let node = pending.popLast() {
            count += 1
            node.children.forEach { pending.append($1) }
        }
        return count
    }

    @inlinable
    func forEachValue(under top: RetainedNode<Value>, _ body: (String, Value) -> Void) {
        var pending = [top]
        while let node = pending.popLast() {
            if let slot = node.slot, let entry = slots[slot] { body(entry.topic, entry.value) }
            node.children.forEach { pending.append($1) }
        }
    }

    /// Calls `body` with every retained topic name and its value, `$` topics included, in no particular order.
    public func forEach(_ body: (String, Value) -> Void) {
        slots.forEach { body($0.topic, $0.value) }
    }
}

extension RetainedIndex: Sendable where Value: Sendable {}
