import PropertyBased
import Testing

@testable import TernBroker

final class LabelNode: TrieNode {
    let label: String
    init(_ label: String) { self.label = label }
    func clone() -> LabelNode { LabelNode(label) }
}

@Suite struct TopicLevelTableTests {
    /// Keys of many lengths, the empty one included; enough of them to cross the linear limit both ways.
    static let pool: [String] = [""] + (0..<47).map { i in
        String(repeating: "k", count: i % 5) + "\(i)" + (i % 3 == 0 ? "-a-level-name-longer-than-15-bytes" : "")
    }

    @Test func randomInsertsAndRemovalsAgreeWithASet() async {
        let op = zip(Gen.bool, Gen.int(in: 0..<Self.pool.count))
        await propertyCheck(count: 200, input: op.array(of: 1...200)) { ops in
            var table = TopicLevelTable<LabelNode>()
            var present = Set<String>()
            for (insert, keyIndex) in ops {
                let key = Self.pool[keyIndex]
                if insert {
                    let node = table.uniqueNode(for: Array(key.utf8)) { LabelNode(key) }
                    #expect(node.label == key)
                    present.insert(key)
                } else {
                    table.removeNode(for: Array(key.utf8))
                    present.remove(key)
                }
                #expect(table.count == present.count)
            }
            for key in Self.pool {
                #expect(table.node(for: Array(key.utf8))?.label == (present.contains(key) ? key : nil),
                        "\(key) after \(ops)")
            }
            var seen: [String] = []
            table.forEach { bytes, node in
                #expect(String(decoding: bytes, as: UTF8.self) == node.label)
                seen.append(node.label)
            }
            #expect(seen.count == present.count && Set(seen) == present)
        }
    }

    /// The Bloom filter in front of a wide level grows with it (rebuilt at each doubling) and never turns a present
    /// key away, however keys come and go.
    @Test func wideLevelsFindEveryKeyTheyHold() {
        var table = TopicLevelTable<LabelNode>()
        for i in 0..<5000 { _ = table.uniqueNode(for: Array("device-\(i)".utf8)) { LabelNode("device-\(i)") } }
        for i in stride(from: 0, to: 5000, by: 3) { table.removeNode(for: Array("device-\(i)".utf8)) }
        for i in 0..<5000 {
            let expected = i % 3 == 0 ? nil : "device-\(i)"
            #expect(table.node(for: Array("device-\(i)".utf8))?.label == expected)
            #expect(table.node(for: Array("other-\(i)".utf8)) == nil)
        }
        for i in stride(from: 0, to: 5000, by: 3) {
            _ = table.uniqueNode(for: Array("device-\(i)".utf8)) { LabelNode("device-\(i)") }
        }
        for i in 0..<5000 { #expect(table.node(for: Array("device-\(i)".utf8))?.label == "device-\(i)") }
        #expect(table.count == 5000)
    }

    @Test(arguments: [3, 30])
    func uniqueNodeClonesOnlySharedChildren(width: Int) {
        var table = TopicLevelTable<LabelNode>()
        for i in 0..<width { _ = table.uniqueNode(for: Array("k\(i)".utf8)) { LabelNode("k\(i)") } }
        let key = Array("k1".utf8)
        let original = table.node(for: key)!
        let sharedIsCloned = table.uniqueNode(for: key) { LabelNode("new") } !== original
        #expect(sharedIsCloned)  // `original` holds a second reference
        #expect(table.node(for: key)?.label == "k1")
        let cloneIdentity = ObjectIdentifier(table.node(for: key)!)
        let uniqueIsKept = ObjectIdentifier(table.uniqueNode(for: key) { LabelNode("new") }) == cloneIdentity
        #expect(uniqueIsKept)
        // A copy of the table shares its children until written through.
        var copy = table
        let copyClones = copy.uniqueNode(for: key) { LabelNode("new") } !== table.node(for: key)!
        #expect(copyClones)
    }
}
