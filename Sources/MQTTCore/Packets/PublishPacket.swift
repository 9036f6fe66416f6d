import NIOCore

/// PUBLISH: an application message (section 3.3).
public struct PublishPacket: Hashable, Sendable, CustomStringConvertible {
    /// May be empty in MQTT 5.0 when a Topic Alias property stands for the topic.
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    /// Set on a re-delivery of a QoS 1 or 2 message; always false for QoS 0 [MQTT-3.3.1-2].
    public var duplicate: Bool
    /// Present exactly when `qos` is above 0, and never 0 [MQTT-2.2.1-3].
    public var packetIdentifier: UInt16?
    public var properties: Properties

    public init(
        topic: String,
        payload: ByteBuffer,
        qos: QoS = .atMostOnce,
        retain: Bool = false,
        duplicate: Bool = false,
        packetIdentifier: UInt16? = nil,
        properties: Properties = []
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.duplicate = duplicate
        self.packetIdentifier = packetIdentifier
        self.properties = properties
    }

    public var description: String {
        var s = "\(topic) \(qos)"
        if let packetIdentifier { s += " id=\(packetIdentifier)" }
        if retain { s += " retain" }
        if duplicate { s += " dup" }
        s += " <\(payload.readableBytes) bytes>"
        if !properties.isEmpty { s += " \(properties)" }
        return s
    }
}
