import MQTTCore
/// One level of the subscription trie: the subscriptions whose filter ends here, and the children for the next
/// filter level (named levels, `+` and `#`).
///
/// Nodes are shared between snapshots of a `SubscriptionIndex` and mutated only while uniquely referenced.
@usableFromInline
final class SubscriptionNode<Subscriber: Hashable & Sendable>: TrieNode {
    @usableFromInline typealias Entry = SubscriptionIndex<Subscriber>.Entry

    /// Subscriptions of one share group to the filter ending at this node.
    @usableFromInline
    struct SharedGroup {
        @usableFromInline var name: String
        @usableFromInline var filter: String
        @usableFromInline var members: SubscriberEntries<Subscriber>
    }

    /// How a child hangs off its parent, for pruning.
    enum ChildSlot {
        case level([UInt8])
        case singleLevelWildcard
        case multiLevelWildcard
    }

    // No dynamic exclusivity checks on these hot fields: a node is mutated only while its owning index value
    // holds the sole reference (see the Sendable note below), so no read can overlap a write.
    @usableFromInline @exclusivity(unchecked) var children = TopicLevelTable<SubscriptionNode>()
    @usableFromInline @exclusivity(unchecked) var singleLevelChild: SubscriptionNode?
    @usableFromInline @exclusivity(unchecked) var multiLevelChild: SubscriptionNode?
    /// Non-shared subscriptions whose filter ends here.
    @usableFromInline @exclusivity(unchecked) var plain = SubscriberEntries<Subscriber>()
    /// Shared subscriptions whose (inner) filter ends here, one element per share group.
    @usableFromInline @exclusivity(unchecked) var groups: [SharedGroup] = []

    init() {}

    @usableFromInline
    func clone() -> SubscriptionNode {
        let copy = SubscriptionNode()
        copy.children = children
        copy.singleLevelChild = singleLevelChild
        copy.multiLevelChild = multiLevelChild
        copy.plain = plain
        copy.groups = groups
        return copy
    }

    /// Releases the subtree iteratively, so a very deep filter cannot overflow the stack with nested deinits.
    /// (Wide levels, held in a hash trie, are left to the ordinary release: walking them would cost their width
    /// each time an old path copy is dropped, and a deep chain of wide levels takes a huge number of filters.)
    deinit {
        guard !children.isEmpty || singleLevelChild != nil || multiLevelChild != nil else { return }
        var pending: [SubscriptionNode] = []
        takeChildren(into: &pending)
        while var node = pending.popLast() {
            if isKnownUniquelyReferenced(&node) { node.takeChildren(into: &pending) }
        }
    }

    private func takeChildren(into pending: inout [SubscriptionNode]) {
        _ = children.takeSmallNodes(into: &pending)
        if let child = singleLevelChild {
            pending.append(child)
            singleLevelChild = nil
        }
        if let child = multiLevelChild {
            pending.append(child)
            multiLevelChild = nil
        }
    }

    var isEmpty: Bool {
        plain.isEmpty && groups.isEmpty && children.isEmpty && singleLevelChild == nil && multiLevelChild == nil
    }

    // MARK: - Reading

    /// The existing child for a filter level, if any.
    func child(forFilterLevel level: [UInt8]) -> SubscriptionNode? {
        if level.count == 1 {
            if level[0] == TopicBytes.singleLevelWildcard { return singleLevelChild }
            if level[0] == TopicBytes.multiLevelWildcard { return multiLevelChild }
        }
        return children.node(for: level)
    }

    func entry(shareGroup: String?, subscriber: Subscriber) -> Entry? {
        guard let shareGroup else { return plain.entry(for: subscriber) }
        return groups.first { $0.name == shareGroup }?.members.entry(for: subscriber)
    }

    // MARK: - Writing (self must be uniquely referenced)

    /// The child for a filter level, created if absent and cloned if shared, ready to be mutated.
    func uniqueChild(forFilterLevel level: [UInt8]) -> (SubscriptionNode, ChildSlot) {
        if level.count == 1 && level[0] == TopicBytes.singleLevelWildcard {
            if singleLevelChild == nil {
                singleLevelChild = SubscriptionNode()
            } else if !isKnownUniquelyReferenced(&singleLevelChild) {
                singleLevelChild = singleLevelChild!.clone()
            }
            return (singleLevelChild!, .singleLevelWildcard)
        }
        if level.count == 1 && level[0] == TopicBytes.multiLevelWildcard {
            if multiLevelChild == nil {
                multiLevelChild = SubscriptionNode()
            } else if !isKnownUniquelyReferenced(&multiLevelChild) {
                multiLevelChild = multiLevelChild!.clone()
            }
            return (multiLevelChild!, .multiLevelWildcard)
        }
        return (children.uniqueNode(for: level) { SubscriptionNode() }, .level(level))
    }

    func removeChild(_ slot: ChildSlot) {
        switch slot {
        case .level(let level): children.removeNode(for: level)
        case .singleLevelWildcard: singleLevelChild = nil
        case .multiLevelWildcard: multiLevelChild = nil
        }
    }

    /// Adds or replaces the subscriber's entry; returns true if it is new.
    func upsert(_ entry: Entry) -> Bool {
        guard let shareGroup = entry.shareGroup else { return plain.upsert(entry) }
        if let index = groups.firstIndex(where: { $0.name == shareGroup }) {
            return groups[index].members.upsert(entry)
        }
        var members = SubscriberEntries<Subscriber>()
        _ = members.upsert(entry)
        groups.append(SharedGroup(name: shareGroup, filter: entry.filter, members: members))
        return true
    }

    /// Removes the subscriber's entry; returns it if there was one.
    func remove(shareGroup: String?, subscriber: Subscriber) -> Entry? {
        guard let shareGroup else { return plain.remove(subscriber) }
        guard let index = groups.firstIndex(where: { $0.name == shareGroup }) else { return nil }
        let removed = groups[index].members.remove(subscriber)
        if groups[index].members.isEmpty { groups.remove(at: index) }
        return removed
    }
}

// Safe to send: a node is mutated only through `SubscriptionIndex`'s mutating methods and only after
// `isKnownUniquelyReferenced` proved that index value is its sole owner; a node reachable from a value that was
// handed to another thread has a second owner, so it is cloned, never mutated (the same argument as for Array).
extension SubscriptionNode: @unchecked Sendable {}
