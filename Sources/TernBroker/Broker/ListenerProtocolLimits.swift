import MQTTCore

/// What a listener allows of the protocol where it differs from the broker's settings (Mosquitto's listener
/// settings `max_qos` and `max_topic_alias`); a nil field leaves `BrokerSettings`' value.
public struct ListenerProtocolLimits: Sendable, Hashable {
    /// The highest QoS the listener's clients may publish with, name for a will, or be granted (Maximum QoS).
    public var maximumQoS: QoS?
    /// The highest topic alias the listener's MQTT 5 clients may set (Topic Alias Maximum); 0 allows none.
    public var topicAliasMaximum: UInt16?

    public init(maximumQoS: QoS? = nil, topicAliasMaximum: UInt16? = nil) {
        self.maximumQoS = maximumQoS
        self.topicAliasMaximum = topicAliasMaximum
    }
}
