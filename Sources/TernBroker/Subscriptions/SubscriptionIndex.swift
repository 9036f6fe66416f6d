import HashTreeCollections
import MQTTCore

/// The broker's index of subscriptions: a trie keyed by topic filter levels, matched on every PUBLISH.
///
/// `SubscriptionIndex` is a value with copy-on-write nodes and path copying: a copy shares every node with the
/// original, and a write to a copy clones only the nodes on the path from the root to the filter it changes
/// (plus the per-subscriber bookkeeping, a persistent hash trie that copies only its own path). So a single
/// writer can mutate its own copy and publish snapshots (for example through an atomic or a lock-protected
/// reference) that readers on other threads match against without locks and without ever seeing a partial
/// write.
///
/// Each subscription is identified by (filter, share group, subscriber): a client may subscribe to the same
/// filter plainly and in any number of share groups (`$share/{group}/{filter}`), and each is a distinct
/// subscription. Share group names and inner filters are parsed by the caller; filters are stored and matched
/// by their UTF-8 bytes without normalization [MQTT-4.7.3-4].
///
/// Filters passed in must be valid topic filters: non-empty [MQTT-4.7.3-1], with `#` only as the whole last
/// level [MQTT-4.7.1-2] and `+` only as a whole level [MQTT-4.7.1-3]. Validate them before subscribing.
public struct SubscriptionIndex<Subscriber: Hashable & Sendable>: Sendable {
    /// One subscription.
    public struct Entry: Hashable, Sendable, CustomStringConvertible {
        /// Who subscribed: the session's key.
        public var subscriber: Subscriber
        /// The topic filter, without any `$share/{group}/` prefix.
        public var filter: String
        /// The share group for a shared subscription, nil for a plain one.
        public var shareGroup: String?
        /// QoS, No Local, Retain As Published and Retain Handling as subscribed.
        public var options: SubscriptionOptions
        /// The Subscription Identifier the SUBSCRIBE carried (MQTT 5.0), if any.
        public var identifier: UInt32?
        /// Where the broker keeps the subscriber's session, so that a delivery reaches it without a hashed lookup.
        /// Not part of the subscription's identity (`==` and `hash(into:)` leave it out).
        var sessionSlot = SessionSlot.none

        public init(subscriber: Subscriber, filter: String, shareGroup: String? = nil,
                    options: SubscriptionOptions = SubscriptionOptions(), identifier: UInt32? = nil)
        {
            self.subscriber = subscriber
            self.filter = filter
            self.shareGroup = shareGroup
            self.options = options
            self.identifier = identifier
        }

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.subscriber == rhs.subscriber && lhs.filter == rhs.filter && lhs.shareGroup == rhs.shareGroup
                && lhs.options == rhs.options && lhs.identifier == rhs.identifier
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(subscriber)
            hasher.combine(filter)
            hasher.combine(shareGroup)
            hasher.combine(options)
            hasher.combine(identifier)
        }

        public var description: String {
            var s = "\(subscriber) "
            if let shareGroup { s += "$share/\(shareGroup)/" }
            s += "\(filter) \(options)"
            if let identifier { s += " id=\(identifier)" }
            return s
        }
    }

    /// What a topic name matched: a plain subscription, or a share group whose filter matched.
    public enum Match: Sendable {
        /// A non-shared subscription whose filter matches the topic.
        case subscription(Entry)
        /// A share group subscribed to a filter that matches the topic: the message goes to one of `members`
        /// (which the caller chooses), not to each. Two groups with the same name but different filters are
        /// distinct shared subscriptions and are reported separately. `members` is never empty.
        case shared(group: String, filter: String, members: ShareGroupMembers)
    }

    /// Identifies a subscription of a known subscriber.
    struct FilterKey: Hashable, Sendable {
        var filter: String
        var shareGroup: String?
    }

    @usableFromInline var root = SubscriptionNode<Subscriber>()
    /// The filters each subscriber holds, for `removeAll(for:)` and `subscriptions(of:)`.
    private var filtersBySubscriber = TreeDictionary<Subscriber, [FilterKey]>()

    /// The number of subscriptions (plain and shared).
    public private(set) var count = 0
    /// Raised by every change to the index, so that what was read from it (`TopicMatchCache`) can tell whether it
    /// still holds.
    public private(set) var generation: UInt64 = 0

    /// An empty index.
    public init() {}

    /// Whether the index holds no subscription.
    public var isEmpty: Bool { count == 0 }

    /// The number of distinct subscribers holding at least one subscription.
    public var subscriberCount: Int { filtersBySubscriber.count }

    // MARK: - Writing

    /// Adds a subscription, or replaces the one with the same filter, share group and subscriber: a repeated
    /// SUBSCRIBE replaces the existing subscription, with its new options and identifier [MQTT-3.8.4-3].
    ///
    /// - Parameters:
    ///   - filter: A valid topic filter; for a shared subscription the part after `$share/{group}/`.
    ///   - shareGroup: The share name of a shared subscription, nil for a plain one.
    ///   - sessionSlot: Where the broker keeps the subscriber's session (`SubscriptionIndex.Entry.sessionSlot`).
    /// - Returns: true if the subscription is new, false if it replaced an existing one (the caller needs this
    ///   for Retain Handling 1, send retained messages only for a new subscription).
    @discardableResult
    public mutating func subscribe(_ filter: String, shareGroup: String? = nil, subscriber: Subscriber,
                                   options: SubscriptionOptions, identifier: UInt32? = nil) -> Bool
    {
        subscribe(filter, shareGroup: shareGroup, subscriber: subscriber, options: options, identifier: identifier,
                  sessionSlot: .none)
    }

    @discardableResult
    mutating func subscribe(_ filter: String, shareGroup: String? = nil, subscriber: Subscriber,
                            options: SubscriptionOptions, identifier: UInt32? = nil, sessionSlot: SessionSlot) -> Bool
    {
        assert(Self.isPlausibleFilter(filter), "invalid topic filter \(filter)")
        generation &+= 1
        if !isKnownUniquelyReferenced(&root) { root = root.clone() }
        var node = root
        for level in TopicBytes.levels(of: filter) {
            node = node.uniqueChild(forFilterLevel: level).0
        }
        var entry = Entry(subscriber: subscriber, filter: filter, shareGroup: shareGroup, options: options,
                          identifier: identifier)
        entry.sessionSlot = sessionSlot
        guard node.upsert(entry) else { return false }
        count += 1
        filtersBySubscriber[subscriber, default: []].append(FilterKey(filter: filter, shareGroup: shareGroup))
        return true
    }

    /// Removes the subscription with exactly this filter (compared byte for byte, not matched), share group and
    /// subscriber [MQTT-3.10.4-1], and prunes the trie nodes that are left empty.
    ///
    /// - Returns: whether such a subscription existed (UNSUBACK's Success or No subscription existed).
    @discardableResult
    public mutating func unsubscribe(_ filter: String, shareGroup: String? = nil, subscriber: Subscriber) -> Bool {
        let key = FilterKey(filter: filter, shareGroup: shareGroup)
        guard removeFromTrie(key, subscriber: subscriber) else { return false }
        count -= 1
        if var keys = filtersBySubscriber.removeValue(forKey: subscriber) {
            if let index = keys.firstIndex(of: key) { keys.remove(at: index) }
            if !keys.isEmpty { filtersBySubscriber[subscriber] = keys }
        }
        return true
    }

    /// Removes every subscription of a subscriber, plain and shared (when its session ends).
    ///
    /// Costs the number of that subscriber's subscriptions times their filter depth, independent of the size
    /// of the index.
    /// - Returns: the number of subscriptions removed.
    @discardableResult
    public mutating func removeAll(for subscriber: Subscriber) -> Int {
        guard let keys = filtersBySubscriber.removeValue(forKey: subscriber) else { return 0 }
        var removed = 0
        for key in keys where removeFromTrie(key, subscriber: subscriber) { removed += 1 }
        assert(removed == keys.count, "subscriber bookkeeping out of step with the trie")
        count -= removed
        return removed
    }

    /// Removes one subscription from the trie and prunes empty nodes; leaves `count` and the bookkeeping alone.
    private mutating func removeFromTrie(_ key: FilterKey, subscriber: Subscriber) -> Bool {
        let levels = TopicBytes.levels(of: key.filter)
        // Look before writing, so that removing nothing copies nothing.
        guard node(forLevels: levels)?.entry(shareGroup: key.shareGroup, subscriber: subscriber) != nil else {
            return false
        }
        generation &+= 1
        if !isKnownUniquelyReferenced(&root) { root = root.clone() }
        var path: [(parent: SubscriptionNode<Subscriber>, slot: SubscriptionNode<Subscriber>.ChildSlot)] = []
        path.reserveCapacity(levels.count)
        var node = root
        for level in levels {
            let (child, slot) = node.uniqueChild(forFilterLevel: level)
            path.append((node, slot))
            node = child
        }
        let removed = node.remove(shareGroup: key.shareGroup, subscriber: subscriber)
        assert(removed != nil)
        while let (parent, slot) = path.popLast(), node.isEmpty {
            parent.removeChild(slot)
            node = parent
        }
        return true
    }

    // MARK: - Reading

    /// The subscription with exactly this filter, share group and subscriber, if any.
    public func subscription(_ filter: String, shareGroup: String? = nil, subscriber: Subscriber) -> Entry? {
        node(forLevels: TopicBytes.levels(of: filter))?.entry(shareGroup: shareGroup, subscriber: subscriber)
    }

    /// All subscriptions of a subscriber, in the order they were first made.
    public func subscriptions(of subscriber: Subscriber) -> [Entry] {
        guard let keys = filtersBySubscriber[subscriber] else { return [] }
        return keys.compactMap { subscription($0.filter, shareGroup: $0.shareGroup, subscriber: subscriber) }
    }

    private func node(forLevels levels: [[UInt8]]) -> SubscriptionNode<Subscriber>? {
        var node = root
        for level in levels {
            guard let child = node.child(forFilterLevel: level) else { return nil }
            node = child
        }
        return node
    }

    // MARK: - Matching

    /// Calls `body` for each subscription whose filter matches a topic name: each plain subscription once, and
    /// each (share group, filter) with a matching filter once.
    ///
    /// `+` matches exactly one level, empty levels included; `#` matches the parent level and any number of
    /// levels below it (`a/#` matches `a`) [MQTT-4.7.1-2]; filters starting with a wildcard do not match topic
    /// names starting with `$` [MQTT-4.7.2-1]. Levels are compared as bytes [MQTT-4.7.3-4].
    ///
    /// A subscriber with overlapping subscriptions is reported once per matching subscription: combining them
    /// (maximum QoS, all subscription identifiers) is the caller's job.
    ///
    /// Walks the topic's UTF-8 bytes level by level: it splits no strings and allocates nothing for topics of up
    /// to 60 levels (deeper ones need one temporary buffer), whatever the index holds. The walk is iterative, so
    /// deep topics and filters cannot overflow the stack.
    ///
    /// `body` must not mutate the index value being walked (exclusivity enforcement forbids it anyway); mutating
    /// another copy, such as the writer's, is fine.
    ///
    /// - Parameter topicName: A valid topic name (no wildcards [MQTT-4.7.1-1]).
    @inlinable
    public func forEachMatch(topicName: String, _ body: (Match) -> Void) {
        forEachMatchingNode(topicName: topicName) { Self.emit($0, body) }
    }

    /// Calls `body` with each trie node whose filter matches the topic name, that is with the plain subscriptions
    /// and share groups of one matching filter at a time. One filter's plain subscriptions have distinct
    /// subscribers, so a caller combining a subscriber's matches needs to look for repeats only from the second
    /// node on (see `RouteTargets`).
    @inlinable
    func forEachMatchingNode(topicName: String, _ body: (SubscriptionNode<Subscriber>) -> Void) {
        TopicBytes.withUTF8(topicName) { topic in
            Self.walk(root, topic: topic, body)
        }
    }

    /// All subscriptions matching a topic name, share group members included (each member of a matching group
    /// is listed); mainly for tests.
    public func matches(topicName: String) -> [Entry] {
        var result: [Entry] = []
        forEachMatch(topicName: topicName) { match in
            switch match {
            case .subscription(let entry): result.append(entry)
            case .shared(_, _, let members): result.append(contentsOf: members)
            }
        }
        return result
    }

    /// A pending trie node with the byte offset of the topic level it is to match, or -1 when the topic has
    /// been consumed. Unmanaged: the snapshot being walked keeps every node alive.
    @usableFromInline
    struct Frame {
        @usableFromInline var node: Unmanaged<SubscriptionNode<Subscriber>>
        @usableFromInline var position: Int

        @inlinable
        init(node: Unmanaged<SubscriptionNode<Subscriber>>, position: Int) {
            self.node = node
            self.position = position
        }
    }

    @inlinable
    static func walk(_ root: SubscriptionNode<Subscriber>, topic: UnsafeBufferPointer<UInt8>,
                     _ body: (SubscriptionNode<Subscriber>) -> Void)
    {
        var levels = 1
        for byte in topic where byte == TopicBytes.separator { levels &+= 1 }
        let isSystemTopic = topic.first == TopicBytes.dollar
        // Depth-first: every pop pushes at most two frames one level deeper, and the stack is ordered by depth,
        // so it never holds more than one frame per level plus one.
        let capacity = levels + 2
        withUnsafeTemporaryAllocation(of: Frame.self, capacity: capacity) { stack in
            var top = 0
            stack[0] = Frame(node: .passUnretained(root), position: 0)
            top = 1
            while top > 0 {
                top &-= 1
                let frame = stack[top]
                let node = frame.node.takeUnretainedValue()
                let position = frame.position
                if position < 0 {
                    body(node)
                    // `a/#` also matches `a` [MQTT-4.7.1-2].
                    if let all = node.multiLevelChild { body(all) }
                    continue
                }
                // Only the root frame has position 0: the levels below start after a separator.
                let wildcardsAllowed = !(position == 0 && isSystemTopic)  // [MQTT-4.7.2-1]
                if wildcardsAllowed, let all = node.multiLevelChild { body(all) }
                let end = TopicBytes.levelEnd(topic, from: position)
                let next = end == topic.count ? -1 : end &+ 1
                if wildcardsAllowed, let any = node.singleLevelChild {
                    precondition(top < capacity)
                    stack[top] = Frame(node: .passUnretained(any), position: next)
                    top &+= 1
                }
                if let child = node.children.node(for: TopicBytes.level(topic, position, end)) {
                    precondition(top < capacity)
                    stack[top] = Frame(node: .passUnretained(child), position: next)
                    top &+= 1
                }
            }
        }
    }

    @inlinable @inline(__always)
    static func emit(_ node: SubscriptionNode<Subscriber>, _ body: (Match) -> Void) {
        node.plain.forEach { body(.subscription($0)) }
        for group in node.groups {
            body(.shared(group: group.name, filter: group.filter, members: ShareGroupMembers(group.members)))
        }
    }

    /// The number of trie nodes, root included (for tests of pruning and path copying).
    var trieNodeCount: Int {
        var count = 0
        var pending = [root]
        while let node = pending.popLast() {
            count += 1
            node.children.forEach { pending.append($1) }
            if let child = node.singleLevelChild { pending.append(child) }
            if let child = node.multiLevelChild { pending.append(child) }
        }
        return count
    }

    /// The identity of the root node (for tests of copy-on-write).
    var rootIdentity: ObjectIdentifier { ObjectIdentifier(root) }

    /// A cheap sanity check for debug builds; real validation belongs to the SUBSCRIBE handling.
    private static func isPlausibleFilter(_ filter: String) -> Bool {
        let levels = TopicBytes.levels(of: filter)
        for (index, level) in levels.enumerated() {
            if level.contains(TopicBytes.multiLevelWildcard) && (level.count != 1 || index != levels.count - 1) {
                return false
            }
            if level.contains(TopicBytes.singleLevelWildcard) && level.count != 1 { return false }
        }
        return !filter.isEmpty
    }
}
