/// SUBSCRIBE: one or more topic filters with their options (section 3.8).
public struct SubscribePacket: Hashable, Sendable, CustomStringConvertible {
    public var packetIdentifier: UInt16
    /// Never empty [MQTT-3.8.3-2].
    public var subscriptions: [Subscription]
    /// MQTT 5.0: at most one Subscription Identifier, and user properties.
    public var properties: Properties

    public init(packetIdentifier: UInt16, subscriptions: [Subscription], properties: Properties = []) {
        self.packetIdentifier = packetIdentifier
        self.subscriptions = subscriptions
        self.properties = properties
    }

    public var description: String {
        "id=\(packetIdentifier) \(subscriptions)" + (properties.isEmpty ? "" : " \(properties)")
    }
}

/// One topic filter of a SUBSCRIBE with its subscription options.
public struct Subscription: Hashable, Sendable, CustomStringConvertible {
    /// A topic filter, possibly a shared one (`$share/group/filter`). The decoder checks it is valid UTF-8 but
    /// not that it is a valid filter: an invalid filter earns a SUBACK failure code, not a disconnect.
    public var topicFilter: String
    public var options: SubscriptionOptions

    public init(topicFilter: String, options: SubscriptionOptions = SubscriptionOptions()) {
        self.topicFilter = topicFilter
        self.options = options
    }

    public init(topicFilter: String, qos: QoS) {
        self.init(topicFilter: topicFilter, options: SubscriptionOptions(qos: qos))
    }

    public var description: String { "\(topicFilter) \(options)" }
}

/// The Subscription Options byte (section 3.8.3.1); 3.1 and 3.1.1 carry only the maximum QoS.
public struct SubscriptionOptions: Hashable, Sendable, CustomStringConvertible {
    /// The maximum QoS the subscriber accepts.
    public var qos: QoS
    /// MQTT 5.0: do not deliver the subscriber's own publications back to it.
    public var noLocal: Bool
    /// MQTT 5.0: keep the RETAIN flag of forwarded messages as published.
    public var retainAsPublished: Bool
    /// MQTT 5.0: when retained messages are sent on subscribe.
    public var retainHandling: RetainHandling

    public init(qos: QoS = .atMostOnce, noLocal: Bool = false, retainAsPublished: Bool = false,
                retainHandling: RetainHandling = .sendOnSubscribe)
    {
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }

    public var description: String {
        var s = "\(qos)"
        if noLocal { s += " noLocal" }
        if retainAsPublished { s += " retainAsPublished" }
        if retainHandling != .sendOnSubscribe { s += " \(retainHandling)" }
        return s
    }
}

/// Retain Handling subscription option (MQTT 5.0).
public enum RetainHandling: UInt8, Hashable, Sendable {
    /// Send retained messages at the time of the subscribe.
    case sendOnSubscribe = 0
    /// Send retained messages only if the subscription did not exist before.
    case sendOnNewSubscribe = 1
    /// Never send retained messages on subscribe.
    case doNotSend = 2
}
