import MQTTCore

/// What a listener allows of the protocol where it differs from the broker's settings (Mosquitto's listener
/// settings `max_qos`, `max_topic_alias` and `mount_point`); a nil field leaves `BrokerSettings`' value.
public struct ListenerProtocolLimits: Sendable, Hashable {
    /// The highest QoS the listener's clients may publish with, name for a will, or be granted (Maximum QoS).
    public var maximumQoS: QoS?
    /// The highest topic alias the listener's MQTT 5 clients may set (Topic Alias Maximum); 0 allows none.
    public var topicAliasMaximum: UInt16?
    /// The part of the topic tree the listener's clients reach.
    public var mountPoint: MountPoint

    public init(maximumQoS: QoS? = nil, topicAliasMaximum: UInt16? = nil, mountPoint: MountPoint = .none) {
        self.maximumQoS = maximumQoS
        self.topicAliasMaximum = topicAliasMaximum
        self.mountPoint = mountPoint
    }
}
