import MQTTCore

/// A listener's mount point (Mosquitto's `mount_point`): a prefix put before every topic and topic filter its
/// clients send (PUBLISH, will, SUBSCRIBE, UNSUBSCRIBE) and taken off the topics sent to them, so that they share
/// one subtree of the topic tree and see nothing outside it. Access rules and other listeners' clients see the
/// whole topic (`tenant/a/b` for a client of mount point `tenant/` that published `a/b`).
public struct MountPoint: Sendable, Hashable {
    /// The prefix, as configured (usually ending in `/`); empty for none.
    public let prefix: String

    /// - Throws: `TopicError` when the prefix holds a wildcard or NUL, which would turn topics into filters or
    ///   make them invalid.
    public init(_ prefix: String) throws(TopicError) {
        if !prefix.isEmpty { try TopicName.validate(prefix) }
        self.prefix = prefix
    }

    /// No mount point.
    public static let none = try! MountPoint("")

    public var isEmpty: Bool { prefix.isEmpty }

    /// The topic a client's PUBLISH or will names, in the whole tree.
    func topic(_ clientTopic: String) -> String {
        prefix + clientTopic
    }

    /// The filter a client's SUBSCRIBE or UNSUBSCRIBE names, in the whole tree; a shared subscription's filter is
    /// mounted after its share name (`$share/group/tenant/a/#`), as EMQX does, so that it still shares. An empty
    /// filter, or an invalid shared one, stays as it is, and so invalid [MQTT-4.7.3-1].
    func filter(_ clientFilter: String) -> String {
        guard !clientFilter.isEmpty else { return clientFilter }
        do {
            if let shared = try SharedSubscription(parsing: clientFilter) {
                return "$share/\(shared.shareName)/\(prefix)\(shared.topicFilter)"
            }
        } catch {
            return clientFilter  // an invalid shared subscription stays invalid
        }
        return prefix + clientFilter
    }

    /// How many UTF-8 bytes to take off `topic` before sending it to a client of this mount point; nil when the
    /// topic is outside it (a subscription made through another listener), and so not for this client.
    func bytesToDrop(from topic: String) -> Int? {
        topic.utf8.starts(with: prefix.utf8) ? prefix.utf8.count : nil
    }
}
