/// The entries of a `RetainedIndex` (topic name and value), each in a numbered slot that its trie node refers to.
///
/// Slots are handed out in order, a freed one first, so they hold the entries about in the order their topics were
/// first retained: the order the messages and topic names were allocated in. A subscription to `#` reads them slot
/// by slot (`RetainedMatchCursor`), sequentially through memory, instead of walking every trie node: for a million
/// topics under one level, that walk took each child out of a hash trie and sorted them by address, a third of the
/// time of the delivery.
///
/// A value, copied on write a chunk of slots at a time: a copy (a cursor's snapshot) keeps the entries as they were.
@usableFromInline
struct RetainedSlots<Value> {
    @usableFromInline typealias Entry = (topic: String, value: Value)

    /// `chunkSize` slots (fewer in the last chunk), shared between copies and changed only while uniquely
    /// referenced.
    @usableFromInline
    final class Chunk {
        @usableFromInline var entries: ContiguousArray<Entry?>

        init() {
            entries = []
            entries.reserveCapacity(RetainedSlots.chunkSize)
        }

        init(copying other: Chunk) {
            entries = other.entries
        }
    }

    @usableFromInline static var chunkShift: Int { 10 }
    @usableFromInline static var chunkSize: Int { 1 << chunkShift }

    @usableFromInline var chunks: [Chunk] = []
    /// One past the highest slot handed out: every entry is in a slot below it.
    private(set) var end = 0
    private var freed: [Int] = []

    init() {}

    /// The entry in `slot` (below `end`), nil if the slot is free.
    @inlinable
    subscript(slot: Int) -> Entry? {
        chunks[slot &>> Self.chunkShift].entries[slot & (Self.chunkSize &- 1)]
    }

    /// Calls `body` with the value in `slot` (below `end`) where it lies, if the slot is in use: the entry is not
    /// copied, so what it refers to is not touched (a copy would retain the value and the topic, writing to memory
    /// that a prefetch is about to ask for).
    @inlinable
    func withValue(at slot: Int, _ body: (borrowing Value) -> Void) {
        chunks[slot &>> Self.chunkShift].entries.withUnsafeBufferPointer { entries in
            let entry = entries.baseAddress! + (slot & (Self.chunkSize &- 1))
            if entry.pointee != nil { body(entry.pointee.unsafelyUnwrapped.value) }
        }
    }

    /// Puts an entry in a free slot and returns the slot.
    mutating func insert(_ entry: Entry) -> Int {
        if let slot = freed.popLast() {
            replace(slot, with: entry)
            return slot
        }
        let slot = end
        end += 1
        if slot & (Self.chunkSize - 1) == 0 { chunks.append(Chunk()) }
        let index = slot >> Self.chunkShift
        uniqueChunk(index)
        chunks[index].entries.append(entry)
        return slot
    }

    /// Replaces the entry in a slot in use.
    mutating func replace(_ slot: Int, with entry: Entry?) {
        let index = slot >> Self.chunkShift
        uniqueChunk(index)
        chunks[index].entries[slot & (Self.chunkSize - 1)] = entry
    }

    /// Frees a slot in use.
    mutating func remove(_ slot: Int) {
        guard freed.count + 1 < end else {
            self = RetainedSlots()  // the last one in use: release every chunk
            return
        }
        replace(slot, with: nil)
        freed.append(slot)
    }

    /// Calls `body` with each entry, in slot order.
    func forEach(_ body: (Entry) -> Void) {
        for chunk in chunks {
            for entry in chunk.entries {
                if let entry { body(entry) }
            }
        }
    }

    private mutating func uniqueChunk(_ index: Int) {
        if !isKnownUniquelyReferenced(&chunks[index]) { chunks[index] = Chunk(copying: chunks[index]) }
    }
}

// Safe to send when the values are, for the reason given for `RetainedNode`: a chunk is changed only after
// `isKnownUniquelyReferenced` proved that one `RetainedSlots` value is its sole owner.
extension RetainedSlots.Chunk: @unchecked Sendable where Value: Sendable {}
extension RetainedSlots: Sendable where Value: Sendable {}
