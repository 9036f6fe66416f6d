/// Checks the sequence numbers one subscriber received from one publisher: one bit per sequence number, so
/// duplicates, reordering and (by the count of distinct numbers) losses are exact.
struct DeliveryCheck {
    private var seen: [UInt64] = []
    private var highest: Int = -1
    private(set) var distinct = 0
    private(set) var duplicates = 0
    private(set) var reordered = 0

    mutating func record(_ sequence: UInt64) {
        let index = Int(sequence)
        let word = index >> 6
        if word >= seen.count { seen.append(contentsOf: repeatElement(0, count: word - seen.count + 1 + seen.count / 2)) }
        let bit = UInt64(1) << UInt64(index & 63)
        if seen[word] & bit != 0 {
            duplicates += 1
            return
        }
        seen[word] |= bit
        distinct += 1
        if index < highest { reordered += 1 } else { highest = index }
    }
}
