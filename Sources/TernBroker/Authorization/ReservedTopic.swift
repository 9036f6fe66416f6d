import MQTTCore

/// Topics that clients may not publish to, with or without an access control list, as in Mosquitto 2.0
/// (`acl__check_dollar`):
/// - names starting with `$SYS` (the broker's own statistics; `$SYSTEM/x` included, as Mosquitto compares the
///   first four characters), except `$SYS/broker/connection/{name}/state`, which bridges publish and which is left
///   to the access control list (Mosquitto's example: `pattern write $SYS/broker/connection/%c/state`);
/// - names starting with `$share` (`$shared/x` included): a shared subscription's prefix is not a topic.
///
/// Other topics starting with `$` are ordinary topics to the access control list; since filters starting with a
/// wildcard do not match them [MQTT-4.7.2-1], only rules that name them (`topic write $app/#`) grant them.
public enum ReservedTopic {
    /// Whether no client may publish to `topic`, whatever its rules say.
    ///
    /// Inlined up to its first byte, read from the string's own storage: the generic `utf8.first` and the call
    /// took 42 instructions per PUBLISH for what is one comparison for any topic but a `$` one.
    @inline(__always)
    public static func forbidsPublishing(_ topic: String) -> Bool {
        TopicBytes.withUTF8(topic) { $0.first == TopicBytes.dollar } && forbidsDollarTopic(topic)
    }

    private static func forbidsDollarTopic(_ topic: String) -> Bool {
        let utf8 = topic.utf8
        if utf8.starts(with: "$share".utf8) { return true }
        guard utf8.starts(with: "$SYS".utf8) else { return false }
        return !TopicFilter.matches("$SYS/broker/connection/+/state", topicName: topic)
    }
}
