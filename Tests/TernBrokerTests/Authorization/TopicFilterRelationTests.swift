import MQTTCore
import PropertyBased
import Testing

@testable import TernBroker

/// Filter-versus-filter relations, checked exhaustively against brute force over `TopicUniverse` (every filter and
/// topic of up to three levels over a small alphabet that includes `$SYS` and the empty level), and the strict
/// subscription check built on them.
@Suite struct TopicFilterRelationTests {
    @Test func overlapsIsExactOverTheUniverse() {
        let universe = TopicUniverse.shared
        let levels = universe.filters.map(TopicFilterRelation.levels)
        var mismatches: [String] = []
        for a in universe.filters.indices {
            for b in universe.filters.indices {
                let expected = universe.topics.indices.contains { universe.table[a][$0] && universe.table[b][$0] }
                if TopicFilterRelation.overlaps(levels[a], levels[b]) != expected {
                    mismatches.append("\(universe.filters[a]) ∩ \(universe.filters[b]) expected \(expected)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(20))")
    }

    @Test func coversIsExactOverTheUniverse() {
        let universe = TopicUniverse.shared
        let levels = universe.filters.map(TopicFilterRelation.levels)
        var mismatches: [String] = []
        for outer in universe.filters.indices {
            for inner in universe.filters.indices {
                let expected = universe.topics.indices.allSatisfy {
                    !universe.table[inner][$0] || universe.table[outer][$0]
                }
                if TopicFilterRelation.covers(levels[outer], levels[inner]) != expected {
                    mismatches.append("\(universe.filters[outer]) ⊇ \(universe.filters[inner]) expected \(expected)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(20))")
    }

    @Test(arguments: [
        ("#", "$SYS/#", false), ("+/#", "$SYS", false), ("$SYS/#", "$SYS/+", true), ("a/#", "a", true),
        ("a/+", "a", false), ("a/+/c", "+/b/+", true), ("a/b", "a/b/c", false), ("a/$x", "a/+", true),
        ("caf\u{E9}", "cafe\u{301}", false),  // compared as bytes
    ])
    func overlapExamples(_ a: String, _ b: String, _ expected: Bool) {
        let (a, b) = (TopicFilterRelation.levels(a), TopicFilterRelation.levels(b))
        #expect(TopicFilterRelation.overlaps(a, b) == expected)
        #expect(TopicFilterRelation.overlaps(b, a) == expected)
    }

    @Test(arguments: [
        ("#", "+/#", true), ("+/#", "#", true), ("#", "$SYS/#", false), ("$SYS/#", "$SYS", true),
        ("a/#", "a", true), ("a/+/#", "a/#", false), ("a/+", "a/b", true), ("a/b", "a/+", false),
        ("+/+", "a/$b", true), ("+", "$SYS", false), ("caf\u{E9}/#", "cafe\u{301}", false),
    ])
    func coverExamples(_ outer: String, _ inner: String, _ expected: Bool) {
        #expect(TopicFilterRelation.covers(TopicFilterRelation.levels(outer), TopicFilterRelation.levels(inner))
            == expected)
    }

    /// A random access control list over the universe's filters: own rules of user `u`, and patterns (`%c` in a
    /// pattern stands for the first level, which the client identifier `a` fills).
    struct RandomList: Sendable, CustomStringConvertible {
        var lines: [(pattern: Bool, access: AccessRule.Access, filter: Int)]

        var text: String {
            "user u\n" + lines.map { line in
                var filter = TopicUniverse.shared.filters[line.filter]
                if line.pattern && filter.hasPrefix("a/") { filter = "%c" + filter.dropFirst() }
                return "\(line.pattern ? "pattern" : "topic") \(line.access.rawValue) \(filter)"
            }.joined(separator: "\n")
        }

        var description: String { text.debugDescription }

        static let generator = zip(Gen.bool, Gen.element(of: AccessRule.Access.allCases),
                                   Gen.int(in: 0..<TopicUniverse.shared.filters.count))
            .map { (pattern: $0, access: $1 ?? .read, filter: $2) }
            .array(of: 1...6)
            .map(RandomList.init)
    }

    @Test func strictSubscriptionCheckNeverRefusesAReadableFilter() async {
        let universe = TopicUniverse.shared
        await propertyCheck(count: 300, input: RandomList.generator) { list in
            let acl: AccessControlList
            do {
                acl = try AccessControlList(parsing: list.text, path: "acl")
            } catch {
                Issue.record("\(error) in \(list)")
                return
            }
            let rules = acl.rules(clientID: "a", username: "u")
            let readable = universe.topics.map { rules.mayReceive(topic: $0) }
            let hasDenials = list.lines.contains { $0.access == .deny }
            for (index, filter) in universe.filters.enumerated() {
                let deliverable = universe.topics.indices.contains { universe.table[index][$0] && readable[$0] }
                let granted = rules.maySubscribe(filter: filter, check: .strict)
                if deliverable && !granted {
                    Issue.record("\(filter) refused though it can deliver, \(list)")
                    return
                }
                // Without denials the check is exact.
                if !hasDenials && granted != deliverable {
                    Issue.record("\(filter) granted though nothing is deliverable, \(list)")
                    return
                }
            }
        }
    }
}
