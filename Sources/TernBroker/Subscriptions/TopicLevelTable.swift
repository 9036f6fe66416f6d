import MQTTCore
import HashTreeCollections

/// A trie node that can be copied for path copying: `clone()` returns a shallow copy that shares its children.
@usableFromInline
protocol TrieNode: AnyObject {
    func clone() -> Self
}

/// The children of a trie node, keyed by the UTF-8 bytes of one topic level.
///
/// Lookups take the level as a byte buffer (a slice of the topic being matched), so matching needs neither a
/// `String` per level nor an allocation. Up to `smallLimit` children live in two small arrays scanned linearly.
/// Wider levels (`devices/{id}/...` with thousands of ids) move to a persistent hash trie (`TreeDictionary`,
/// per-process seeded hashing): lookups stay O(1)-ish, and cloning the owning node for a write copies only the
/// hash trie's path to the changed child, not every sibling — the node holds no O(width) array to copy.
///
/// Keys are compared byte for byte: no normalization [MQTT-4.7.3-4].
@usableFromInline
struct TopicLevelTable<Node: TrieNode> {
    @usableFromInline var smallKeys: [[UInt8]] = []
    @usableFromInline var smallNodes: [Node] = []
    /// `fingerprint(smallKeys[i])`: scanned first, so most lookups never touch a key array.
    @usableFromInline var smallFingerprints: [UInt64] = []
    /// All children once there are more than `smallLimit`; the small arrays are then empty.
    @usableFromInline var large: TreeDictionary<LevelKey, Node>?
    /// With `large`: a Bloom filter of its keys (one hash bit per key, at least 8 bits per key, a power of two
    /// words). A wide level (`devices/{id}`) is mostly asked for levels it does not hold: every topic that reaches
    /// it beside a matching sibling (`bench/+` next to `bench/in`). The filter turns away about 9 in 10 of those
    /// without hashing the level for the trie and walking it (100,000 subscriptions: that walk was a fifth of the
    /// routing time). Bits are set as keys arrive and cleared only when the filter is rebuilt, at growth: a
    /// removed key's bit only costs a lookup.
    @usableFromInline var largeFilter: [UInt64] = []

    /// Children beyond this count move to the hash trie; they move back below half of it.
    static var smallLimit: Int { 8 }

    init() {}

    var count: Int { large?.count ?? smallKeys.count }
    var isEmpty: Bool { count == 0 }

    /// The child for `level`, if any.
    @inlinable @inline(__always)
    func node(for level: UnsafeRawBufferPointer) -> Node? {
        if let large {
            let bit = Self.filterBit(level, words: largeFilter.count)
            guard largeFilter[bit &>> 6] & (1 &<< UInt64(bit & 63)) != 0 else { return nil }
            return large[.borrowed(level)]
        }
        let fingerprint = Self.fingerprint(level)
        return smallFingerprints.withUnsafeBufferPointer { fingerprints in
            for index in 0..<fingerprints.count where fingerprints[index] == fingerprint {
                // A fingerprint holds the whole of a key of up to 7 bytes.
                if level.count <= 7 || Self.equal(smallKeys[index], level) { return smallNodes[index] }
            }
            return nil
        }
    }

    func node(for level: [UInt8]) -> Node? {
        level.withUnsafeBytes { node(for: $0) }
    }

    /// Calls `body` with each child and its level bytes, in no particular order.
    @inlinable
    func forEach(_ body: ([UInt8], Node) -> Void) {
        if let large {
            for (key, node) in large { body(key.ownedBytes, node) }
        } else {
            for index in smallKeys.indices { body(smallKeys[index], smallNodes[index]) }
        }
    }

    // MARK: - Writing

    /// The child for `level`, made uniquely referenced (cloned if shared) so the caller may mutate it, or a new
    /// child from `makeNode` if there is none.
    mutating func uniqueNode(for level: [UInt8], orInsert makeNode: () -> Node) -> Node {
        if large != nil {
            let key = LevelKey.owned(level)
            guard large![key] != nil else {
                let node = makeNode()
                large![key] = node
                addToFilter(level)
                return node
            }
            if !isKnownUniquelyReferenced(&large![key]) { large![key] = large![key]!.clone() }
            return large![key]!
        }
        let found = level.withUnsafeBytes { bytes in smallKeys.firstIndex { Self.equal($0, bytes) } }
        if let index = found {
            if !isKnownUniquelyReferenced(&smallNodes[index]) { smallNodes[index] = smallNodes[index].clone() }
            return smallNodes[index]
        }
        let node = makeNode()
        if smallKeys.count < Self.smallLimit {
            smallKeys.append(level)
            smallNodes.append(node)
            smallFingerprints.append(level.withUnsafeBytes { Self.fingerprint($0) })
        } else {
            var large = TreeDictionary<LevelKey, Node>()
            for index in smallKeys.indices { large[.owned(smallKeys[index])] = smallNodes[index] }
            large[.owned(level)] = node
            self.large = large
            smallKeys = []
            smallNodes = []
            smallFingerprints = []
            rebuildFilter()
        }
        return node
    }

    /// Sets the filter bit of a key added to `large`, rebuilding the filter at twice the size when it holds fewer
    /// than 8 bits per key.
    private mutating func addToFilter(_ level: [UInt8]) {
        guard large!.count * 8 <= largeFilter.count * 64 else { return rebuildFilter() }
        level.withUnsafeBytes { Self.setFilterBit(for: $0, in: &largeFilter) }
    }

    private mutating func rebuildFilter() {
        var words = 16
        while words * 64 < large!.count * 16 { words *= 2 }  // 16 bits per key, so it fills to 8 before growing
        var filter = [UInt64](repeating: 0, count: words)
        for key in large!.keys {
            key.withBytes { Self.setFilterBit(for: $0, in: &filter) }
        }
        largeFilter = filter
    }

    private static func setFilterBit(for level: UnsafeRawBufferPointer, in filter: inout [UInt64]) {
        let bit = filterBit(level, words: filter.count)
        filter[bit >> 6] |= 1 << UInt64(bit & 63)
    }

    /// The filter bit of a level: FNV-1a of its bytes, folded. Unseeded: crafted levels can at worst set every bit,
    /// which makes the filter useless, not lookups wrong.
    @inlinable @inline(__always)
    static func filterBit(_ level: UnsafeRawBufferPointer, words: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in level {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        hash ^= hash &>> 29
        return Int(truncatingIfNeeded: hash) & (words &* 64 &- 1)
    }

    /// Removes the child for `level`, if any.
    mutating func removeNode(for level: [UInt8]) {
        if large != nil {
            large!.removeValue(forKey: .owned(level))
            if large!.count < Self.smallLimit / 2 {
                for (key, node) in large! {
                    smallKeys.append(key.ownedBytes)
                    smallNodes.append(node)
                    smallFingerprints.append(key.withBytes { Self.fingerprint($0) })
                }
                large = nil
                largeFilter = []
            }
            return
        }
        let found = level.withUnsafeBytes { bytes in smallKeys.firstIndex { Self.equal($0, bytes) } }
        guard let index = found else { return }
        smallKeys.swapAt(index, smallKeys.count - 1)
        smallKeys.removeLast()
        smallNodes.swapAt(index, smallNodes.count - 1)
        smallNodes.removeLast()
        smallFingerprints.swapAt(index, smallFingerprints.count - 1)
        smallFingerprints.removeLast()
    }

    /// For iterative teardown: moves the children out if they are in the small arrays (at most `smallLimit`)
    /// and returns true; returns false and keeps them if they are in the hash trie, whose release frees only the
    /// hash-trie nodes this table alone holds, rather than walk every child of a wide level.
    mutating func takeSmallNodes(into pending: inout [Node]) -> Bool {
        guard large == nil else { return false }
        pending.append(contentsOf: smallNodes)
        smallKeys = []
        smallNodes = []
        smallFingerprints = []
        return true
    }

    /// The length (saturated at 255) in the low byte, then the first 7 bytes.
    @inlinable @inline(__always)
    static func fingerprint(_ level: UnsafeRawBufferPointer) -> UInt64 {
        var fingerprint = UInt64(min(level.count, 255))
        for index in 0..<min(level.count, 7) {
            fingerprint |= UInt64(level[index]) &<< (8 &* UInt64(index &+ 1))
        }
        return fingerprint
    }

    @inlinable @inline(__always)
    static func equal(_ key: [UInt8], _ level: UnsafeRawBufferPointer) -> Bool {
        guard key.count == level.count else { return false }
        return key.withUnsafeBytes { TopicBytes.equal($0, level) }
    }
}

/// A topic level's bytes as a hash trie key: owned when stored, borrowed (never stored) for a lookup with a
/// slice of the topic being matched, so lookups allocate nothing.
@usableFromInline
enum LevelKey: Hashable {
    case owned([UInt8])
    case borrowed(UnsafeRawBufferPointer)

    @inlinable @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch self {
        case .owned(let bytes): return bytes.withUnsafeBytes(body)
        case .borrowed(let bytes): return body(bytes)
        }
    }

    /// The bytes of a stored key (stored keys are always owned).
    @inlinable
    var ownedBytes: [UInt8] {
        guard case .owned(let bytes) = self else { preconditionFailure("a borrowed level key was stored") }
        return bytes
    }

    @inlinable
    static func == (lhs: LevelKey, rhs: LevelKey) -> Bool {
        switch (lhs, rhs) {
        case (.owned(let left), .owned(let right)):
            return left == right
        case (.owned(let owned), .borrowed(let borrowed)), (.borrowed(let borrowed), .owned(let owned)):
            return owned.count == borrowed.count && owned.withUnsafeBytes { TopicBytes.equal($0, borrowed) }
        case (.borrowed(let left), .borrowed(let right)):
            return TopicBytes.equal(left, right)
        }
    }

    @inlinable
    func hash(into hasher: inout Hasher) {
        withBytes { hasher.combine(bytes: $0) }
    }
}
