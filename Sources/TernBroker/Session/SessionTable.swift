/// Where a session sits in the broker's `SessionTable`, kept by whoever reaches that session often (a
/// subscription entry, a connection) so as to reach it without hashing its client identifier.
///
/// A slot names a session only while the slot's generation is the one recorded here: the table raises the
/// generation when it frees the slot, so a slot kept past its session's end is simply not used, and the lookup
/// falls back to the client identifier.
struct SessionSlot: Hashable, Sendable {
    var index: Int32
    var generation: UInt32

    /// No slot: every lookup goes by client identifier.
    static let none = SessionSlot(index: -1, generation: 0)
}

/// The broker's sessions, by client identifier and by slot.
///
/// A delivery used to find its subscriber's session with a hashed lookup of the client identifier (SipHash over
/// its bytes, then a byte comparison): 10-13% of the broker core's time in fan-out. Sessions now live in an array
/// of slots, the dictionary maps identifiers to slot numbers, and subscription entries and connections keep their
/// session's `SessionSlot`; `withSession(at:_:_:)` reaches the session with an array access and a comparison of
/// generations. A slot belongs to one client identifier from the session's insertion until its removal, so a
/// matching generation can only name that client's session.
struct SessionTable: Sequence {
    private struct Slot {
        var session: ClientSession?
        var generation: UInt32
    }

    private var slotIndexes: [ClientIdentifier: Int32] = [:]
    private var slots: [Slot] = []
    private var freeIndexes: [Int32] = []
    /// The sessions in the table (a session taken out with `takeOut` is not counted until it is put back).
    private(set) var count = 0

    init() {}

    var isEmpty: Bool { count == 0 }

    /// The session of `clientID`. Setting a session gives it a slot (its reserved one, after `takeOut`); setting
    /// nil frees the slot.
    subscript(clientID: ClientIdentifier) -> ClientSession? {
        get {
            guard let index = slotIndexes[clientID] else { return nil }
            return slots[Int(index)].session
        }
        _modify {
            // In place: `sessions[id]?.field = value` changes the session in its slot without copying it.
            if let index = slotIndexes[clientID] {
                let wasPresent = slots[Int(index)].session != nil
                defer {
                    let isPresent = slots[Int(index)].session != nil
                    if isPresent && !wasPresent { count += 1 }  // put back after `takeOut`
                    if !isPresent && wasPresent { removed(index, clientID: clientID) }
                }
                yield &slots[Int(index)].session
            } else {
                var added: ClientSession?
                defer {
                    if let added {
                        let index = slotIndex(for: clientID)
                        slots[Int(index)].session = added
                        count += 1
                    }
                }
                yield &added
            }
        }
    }

    /// Whether `clientID` has a session here (one taken out with `takeOut` is not counted).
    func contains(_ clientID: ClientIdentifier) -> Bool {
        guard let index = slotIndexes[clientID] else { return false }
        return slots[Int(index)].session != nil
    }

    /// Puts `session` in the table, in its slot (reserved by `takeOut` or `reserveSlot`) or a new one, and returns
    /// the slot: what setting the subscript and then asking `slot(of:)` would do, with one lookup fewer.
    mutating func insert(_ session: consuming ClientSession) -> SessionSlot {
        let index = slotIndex(for: session.clientID)
        if slots[Int(index)].session == nil { count += 1 }
        slots[Int(index)].session = session
        return SessionSlot(index: index, generation: slots[Int(index)].generation)
    }

    /// Removes the session and frees its slot: slots kept by subscription entries or connections no longer name it.
    @discardableResult
    mutating func removeValue(forKey clientID: ClientIdentifier) -> ClientSession? {
        // Removed from the dictionary at once: a look-up, then a removal, hashed the identifier twice.
        guard let index = slotIndexes.removeValue(forKey: clientID) else { return nil }
        let session = slots[Int(index)].session
        slots[Int(index)].session = nil
        if session != nil { count -= 1 }  // else a slot reserved by `takeOut`
        release(index)
        return session
    }

    /// Takes the session out while it changes, keeping its slot for it: put it back with the subscript. A copy
    /// left in the table would share the session's collections, and the first change would copy them whole.
    mutating func takeOut(_ clientID: ClientIdentifier) -> ClientSession? {
        guard let index = slotIndexes[clientID], let session = slots[Int(index)].session else { return nil }
        slots[Int(index)].session = nil
        count -= 1
        return session
    }

    /// A slot for the session of `clientID` about to be built and put in the table with the subscript (as
    /// `takeOut` keeps one), so that what refers to it can be set up first.
    mutating func reserveSlot(for clientID: ClientIdentifier) -> SessionSlot {
        let index = slotIndex(for: clientID)
        return SessionSlot(index: index, generation: slots[Int(index)].generation)
    }

    /// The slot of `clientID`'s session (also while it is taken out), for a later `withSession(at:_:_:)`.
    func slot(of clientID: ClientIdentifier) -> SessionSlot {
        guard let index = slotIndexes[clientID] else { return .none }
        return SessionSlot(index: index, generation: slots[Int(index)].generation)
    }

    /// Runs `body` on the client's session in place; nil when there is none.
    @inline(__always)
    mutating func withSession<Result>(_ clientID: ClientIdentifier, _ body: (inout ClientSession) -> Result)
        -> Result?
    {
        guard let index = slotIndexes[clientID], slots[Int(index)].session != nil else { return nil }
        return body(&slots[Int(index)].session!)
    }

    /// Runs `body` on the session in `slot` when the slot still holds `clientID`'s session, else looks the session
    /// up by `clientID`; nil when there is none. `clientID` is evaluated only for that lookup: routing passes the
    /// identifier where it lies in the subscription index, and a copy of it would cost a retain and a release per
    /// delivery.
    @inline(__always)
    mutating func withSession<Result>(at slot: SessionSlot, _ clientID: @autoclosure () -> ClientIdentifier,
                                      _ body: (inout ClientSession) -> Result) -> Result?
    {
        let index = Int(slot.index)
        if index >= 0, index < slots.count, slots[index].generation == slot.generation,
            slots[index].session != nil
        {
            assert(slots[index].session!.clientID == clientID(), "a slot of the current generation names another client")
            return body(&slots[index].session!)
        }
        return withSession(clientID(), body)
    }

    var keys: [ClientIdentifier] { map(\.key) }
    var values: [ClientSession] { map(\.value) }

    func makeIterator() -> some IteratorProtocol<(key: ClientIdentifier, value: ClientSession)> {
        slots.lazy.compactMap { slot in slot.session.map { (key: $0.clientID, value: $0) } }.makeIterator()
    }

    /// The slot of `clientID`, a new one when it has none, with one hashed probe of the identifier: a look-up that
    /// missed, then an insertion, hashed it twice (~500 instructions per new session).
    private mutating func slotIndex(for clientID: ClientIdentifier) -> Int32 {
        Self.slotIndex(&slotIndexes[clientID, default: -1], slots: &slots, freeIndexes: &freeIndexes)
    }

    private static func slotIndex(_ index: inout Int32, slots: inout [Slot], freeIndexes: inout [Int32]) -> Int32 {
        if index < 0 {
            if let free = freeIndexes.popLast() {
                index = free
            } else {
                index = Int32(slots.count)
                slots.append(Slot(session: nil, generation: 0))
            }
        }
        return index
    }

    private mutating func removed(_ index: Int32, clientID: ClientIdentifier) {
        count -= 1
        free(index, clientID: clientID)
    }

    private mutating func free(_ index: Int32, clientID: ClientIdentifier) {
        slotIndexes[clientID] = nil
        release(index)
    }

    /// The slot is free: slots kept elsewhere no longer name its session.
    private mutating func release(_ index: Int32) {
        slots[Int(index)].generation &+= 1
        freeIndexes.append(index)
    }
}
