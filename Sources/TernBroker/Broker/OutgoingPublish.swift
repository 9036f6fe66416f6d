import MQTTCore
import NIOCore

/// A PUBLISH the broker sends to one client: the message, and what this hop adds to it (QoS, RETAIN, DUP, packet
/// identifier, the remaining expiry [MQTT-3.3.2-6], subscription identifiers, a topic alias).
///
/// It holds the message itself rather than a `PublishPacket`: the server encodes it straight from the message's
/// shared storage (`encode(into:version:)`), which saves building a packet per delivery, and with it a retain
/// and a release of the topic, payload and properties each, and the copies of the `Packet` enum around it.
public struct OutgoingPublish: Sendable {
    public let message: ApplicationMessage
    public let qos: QoS
    public let retain: Bool
    public let duplicate: Bool
    /// Present exactly when `qos` is above 0.
    public let packetIdentifier: UInt16?
    /// What this hop adds after the message's own properties: the remaining Message Expiry Interval, the
    /// subscription identifiers, a topic alias. Empty, and not allocated, for most deliveries.
    public private(set) var addedProperties: Properties
    /// Whether the topic is left out (sent empty) because the client knows the topic alias that stands for it
    /// [MQTT-3.3.2-12].
    public private(set) var omitsTopic = false
    /// UTF-8 bytes taken off the front of the topic as sent: the client's listener's mount point (`MountPoint`).
    public private(set) var droppedTopicPrefix = 0

    public init(message: ApplicationMessage, qos: QoS, retain: Bool, duplicate: Bool = false,
                packetIdentifier: UInt16?, subscriptionIdentifiers: [UInt32] = [], now: NIODeadline)
    {
        self.message = message
        self.qos = qos
        self.retain = retain
        self.duplicate = duplicate
        self.packetIdentifier = packetIdentifier
        var added = Properties()
        if let expiresAt = message.expiresAt {
            let remaining = max(0, (expiresAt - now).nanoseconds / 1_000_000_000)
            added.append(.messageExpiryInterval(UInt32(clamping: remaining)))
        }
        // Checked first: a `for`-`in` copies the array (a retain and a release per delivery), most often empty.
        if !subscriptionIdentifiers.isEmpty {
            for identifier in subscriptionIdentifiers { added.append(.subscriptionIdentifier(identifier)) }
        }
        addedProperties = added
    }

    /// Whether every subscriber of the message that speaks the same protocol version and gets it with the same
    /// QoS, RETAIN and DUP gets these very bytes but for the packet identifier (nothing else added for this hop):
    /// the server may then encode it once for all of them.
    @inlinable public var isSameButForPacketIdentifier: Bool {
        addedProperties.isEmpty && !omitsTopic && droppedTopicPrefix == 0
    }

    /// Sends the topic without its first `byteCount` UTF-8 bytes (the client's mount point).
    mutating func dropTopicPrefix(_ byteCount: Int) {
        droppedTopicPrefix = byteCount
    }

    /// The topic as the client sees it, when a mount point is taken off it.
    private var topicWithoutPrefix: String {
        String(message.storage.topic.utf8.dropFirst(droppedTopicPrefix))!
    }

    /// Adds the Subscription Identifiers of the subscriptions the message matched [MQTT-3.3.4-3].
    mutating func addSubscriptionIdentifiers(_ identifiers: [UInt32]) {
        for identifier in identifiers { addedProperties.append(.subscriptionIdentifier(identifier)) }
    }

    /// Sends the topic as a topic alias: the topic itself with a new alias, or only the alias once it is known.
    mutating func useTopicAlias(_ alias: UInt16, known: Bool) {
        addedProperties.topicAlias = alias
        omitsTopic = known
    }

    public func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) throws(MQTTEncodingError) {
        // Each branch passes the message's own topic: `omitsTopic ? "" : topic` made a copy of it (a retain and a
        // release per delivery).
        if omitsTopic {
            try encode(topic: "", into: &buffer, version: version)
        } else if droppedTopicPrefix > 0 {
            try encode(topic: topicWithoutPrefix, into: &buffer, version: version)
        } else {
            try encode(topic: message.storage.topic, into: &buffer, version: version)
        }
    }

    private func encode(topic: String, into buffer: inout ByteBuffer, version: ProtocolVersion)
        throws(MQTTEncodingError)
    {
        let storage = message.storage
        try PublishPacket.encode(
            topic: topic, payload: storage.payload, qos: qos, retain: retain, duplicate: duplicate,
            packetIdentifier: packetIdentifier, properties: storage.properties, addedProperties: addedProperties,
            into: &buffer, version: version)
    }

    public func encodedSize(version: ProtocolVersion) -> Int {
        // Without a conditional expression over the topic, as in `encode`.
        omitsTopic ? encodedSize(topic: "", version: version)
            : droppedTopicPrefix > 0 ? encodedSize(topic: topicWithoutPrefix, version: version)
            : encodedSize(topic: message.storage.topic, version: version)
    }

    private func encodedSize(topic: String, version: ProtocolVersion) -> Int {
        let storage = message.storage
        return PublishPacket.encodedSize(
            topic: topic, payloadBytes: storage.payload.readableBytes, hasPacketIdentifier: packetIdentifier != nil,
            properties: storage.properties, addedProperties: addedProperties, version: version)
    }

    /// The same PUBLISH as a packet value, for outputs that record packets rather than write bytes.
    public var packet: PublishPacket {
        var properties = message.properties
        for property in addedProperties { properties.append(property) }
        return PublishPacket(topic: omitsTopic ? "" : droppedTopicPrefix > 0 ? topicWithoutPrefix : message.topic,
                             payload: message.payload, qos: qos,
                             retain: retain, duplicate: duplicate, packetIdentifier: packetIdentifier,
                             properties: properties)
    }
}
