/// One level of the retained-message trie: the slot of the message retained on the topic name ending here, if any
/// (see `RetainedSlots`), and the children for the next level.
///
/// Nodes are shared between copies of a `RetainedIndex` and mutated only while uniquely referenced.
@usableFromInline
final class RetainedNode<Value>: TrieNode {
    // No dynamic exclusivity checks: a node is mutated only while its owning index value holds the sole
    // reference, so no read can overlap a write.
    @usableFromInline @exclusivity(unchecked) var children = TopicLevelTable<RetainedNode>()
    /// The slot in the index's `RetainedSlots` holding the topic name ending here (kept so matching never rebuilds
    /// it) and its retained value.
    @usableFromInline @exclusivity(unchecked) var slot: Int?

    init() {}

    @usableFromInline
    func clone() -> RetainedNode {
        let copy = RetainedNode()
        copy.children = children
        copy.slot = slot
        return copy
    }

    /// Releases the subtree iteratively, so a very deep topic cannot overflow the stack with nested deinits.
    /// (Wide levels, held in a hash trie, are left to the ordinary release; see `SubscriptionNode.deinit`.)
    deinit {
        guard !children.isEmpty else { return }
        var pending: [RetainedNode] = []
        _ = children.takeSmallNodes(into: &pending)
        while var node = pending.popLast() {
            if isKnownUniquelyReferenced(&node) { _ = node.children.takeSmallNodes(into: &pending) }
        }
    }

    var isEmpty: Bool { slot == nil && children.isEmpty }

    func child(forLevel level: [UInt8]) -> RetainedNode? {
        children.node(for: level)
    }

    /// The child for a level, created if absent and cloned if shared; self must be uniquely referenced.
    func uniqueChild(forLevel level: [UInt8]) -> RetainedNode {
        children.uniqueNode(for: level) { RetainedNode() }
    }
}

// Safe to send when the values are: a node is mutated only through `RetainedIndex`'s mutating methods and only
// after `isKnownUniquelyReferenced` proved that index value is its sole owner; a node reachable from a value that
// was handed to another thread has a second owner, so it is cloned, never mutated (as for Array).
extension RetainedNode: @unchecked Sendable where Value: Sendable {}
