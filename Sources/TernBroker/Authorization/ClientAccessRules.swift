import MQTTCore

/// The access rules of one client, compiled from an ``AccessControlList`` when it connects: its own list and the
/// patterns with its client identifier and user name substituted. Checking a topic walks a few arrays of filters
/// and allocates nothing, so the broker can ask on every delivery.
///
/// ``unrestricted`` is the value for a broker without an access control list.
public struct ClientAccessRules: Sendable, Hashable {
    /// How SUBSCRIBE is checked; see ``maySubscribe(filter:check:)``.
    public enum SubscriptionCheck: Sendable, Hashable {
        /// As Mosquitto 2.0: every valid filter is granted, and each message is checked on delivery. A client
        /// subscribed to `#` receives only what it may read.
        case mosquitto
        /// A filter through which the client could never receive anything (no readable topic matches it) is
        /// refused. Never refuses a filter that could deliver something, but may grant one that cannot when
        /// several `deny` rules together cover what an allow rule grants.
        case strict
    }

    /// Whether an access control list applies at all.
    let isRestricted: Bool
    // The client's own list: denials, then grants by kind.
    let ownDenied: [String]
    let ownReadable: [String]
    let ownWritable: [String]
    // The substituted patterns: denials, then grants by kind. Empty for a client with '+' or '#' in its identity.
    let patternDenied: [String]
    let patternReadable: [String]
    let patternWritable: [String]

    /// No access control list: every topic may be read and written, except the reserved topics no client may
    /// publish to (``ReservedTopic``).
    public static let unrestricted = ClientAccessRules()

    private init() {
        isRestricted = false
        ownDenied = []
        ownReadable = []
        ownWritable = []
        patternDenied = []
        patternReadable = []
        patternWritable = []
    }

    /// Rules from the client's own list and its substituted patterns.
    init(own: [(AccessRule.Access, String)], patterns: [(AccessRule.Access, String)]) {
        func split(_ rules: [(AccessRule.Access, String)]) -> (denied: [String], read: [String], write: [String]) {
            (rules.filter { $0.0 == .deny }.map(\.1), rules.filter { $0.0.grantsRead }.map(\.1),
             rules.filter { $0.0.grantsWrite }.map(\.1))
        }
        isRestricted = true
        (ownDenied, ownReadable, ownWritable) = split(own)
        (patternDenied, patternReadable, patternWritable) = split(patterns)
    }

    /// Whether the client may publish to `topic`, a valid topic name: not a reserved topic, and writable under its
    /// rules. Check every PUBLISH (after resolving a topic alias) and a will before it is published.
    public func mayPublish(topic: String) -> Bool {
        if ReservedTopic.forbidsPublishing(topic) { return false }
        return !isRestricted || Self.decide(topic, ownDenied, ownWritable, patternDenied, patternWritable)
    }

    /// Whether a message on `topic`, a valid topic name, may be delivered to the client, whatever filter matched
    /// it. Check every delivery: routed messages, wills, retained messages sent on subscribe, and queued messages
    /// when a session resumes under another identity.
    ///
    /// Inlined: the check runs twice per delivery, and for a client without rules (most) it is one flag, where the
    /// call cost 38 instructions each time (`scripts/bench instructions`).
    @inline(__always)
    public func mayReceive(topic: String) -> Bool {
        !isRestricted || decideReceive(topic)
    }

    private func decideReceive(_ topic: String) -> Bool {
        Self.decide(topic, ownDenied, ownReadable, patternDenied, patternReadable)
    }

    /// Whether the client's subscription to `filter` (a valid topic filter, or a whole `$share/{name}/{filter}`)
    /// is granted.
    ///
    /// With ``SubscriptionCheck/mosquitto`` (the default) always true: Mosquitto 2.0's ACL file does not check
    /// subscriptions (SUBACK grants them, v3 and v5 alike), and ``mayReceive(topic:)`` filters each message. With
    /// ``SubscriptionCheck/strict`` a filter is refused when no topic it matches could be delivered; the broker
    /// then answers 0x87 (Not authorized) to MQTT 5 clients and 0x80 to MQTT 3.1.1 ones.
    public func maySubscribe(filter: String, check: SubscriptionCheck = .mosquitto) -> Bool {
        guard check == .strict, isRestricted else { return true }
        let filter = (try? SharedSubscription(parsing: filter))??.topicFilter ?? filter
        let levels = TopicFilterRelation.levels(filter)
        let ownDenied = ownDenied.map(TopicFilterRelation.levels)
        func covered(_ grant: [Substring], by denials: [[Substring]]) -> Bool {
            denials.contains {
                TopicFilterRelation.covers($0, levels) || TopicFilterRelation.covers($0, grant)
            }
        }
        for grant in ownReadable.map(TopicFilterRelation.levels)
        where TopicFilterRelation.overlaps(levels, grant) && !covered(grant, by: ownDenied) {
            return true
        }
        let allDenied = ownDenied + patternDenied.map(TopicFilterRelation.levels)
        for grant in patternReadable.map(TopicFilterRelation.levels)
        where TopicFilterRelation.overlaps(levels, grant) && !covered(grant, by: allDenied) {
            return true
        }
        return false
    }

    /// Mosquitto's order: the own list's denials, its grants, the patterns' denials, their grants; else denied.
    @inline(__always)
    static func decide(_ topic: String, _ ownDenied: [String], _ ownGranted: [String], _ patternDenied: [String],
                       _ patternGranted: [String]) -> Bool
    {
        for filter in ownDenied where TopicFilter.matches(filter, topicName: topic) { return false }
        for filter in ownGranted where TopicFilter.matches(filter, topicName: topic) { return true }
        for filter in patternDenied where TopicFilter.matches(filter, topicName: topic) { return false }
        for filter in patternGranted where TopicFilter.matches(filter, topicName: topic) { return true }
        return false
    }
}
