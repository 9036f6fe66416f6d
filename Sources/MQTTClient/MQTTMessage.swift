import MQTTCore
import NIOCore

/// An application message received from the server.
public struct MQTTMessage: Sendable, Hashable, CustomStringConvertible {
    /// The topic name (with any topic alias already resolved).
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    /// True for a retained message sent because of a new subscription (or, with Retain As Published, as sent).
    public var retain: Bool
    /// The message's MQTT 5.0 properties: content type, response topic, correlation data, user properties,
    /// subscription identifiers, message expiry, payload format (the Topic Alias is removed).
    public var properties: Properties

    public init(topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false,
                properties: Properties = [])
    {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }

    /// The payload decoded as UTF-8 (invalid sequences replaced).
    public var payloadString: String { String(decoding: payload.readableBytesView, as: UTF8.self) }

    public var description: String { "\(topic) \(qos)\(retain ? " retain" : "") \(payloadString)" }
}

/// What a completed publish exchange returned.
public struct MQTTPublishResult: Sendable, Hashable {
    /// The reason code of PUBACK (QoS 1) or PUBREC/PUBCOMP (QoS 2); `success` for QoS 0 and for MQTT 3.1.1.
    /// A code of 0x10 (No matching subscribers) is a success too.
    public var reasonCode: ReasonCode
    /// Properties of the acknowledgement (Reason String, user properties).
    public var properties: Properties

    public init(reasonCode: ReasonCode = .success, properties: Properties = []) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// What the server said in CONNACK.
public struct MQTTConnectResult: Sendable, Hashable {
    /// True when the server resumed a session it kept for this client identifier.
    public var sessionPresent: Bool
    /// The CONNACK properties (Assigned Client Identifier, limits, Response Information, ...).
    public var properties: Properties
    /// The client identifier in use: the one configured, or the one the server assigned.
    public var clientIdentifier: String
}

/// The server's answer to SUBSCRIBE.
public struct MQTTSubscribeResult: Sendable, Hashable {
    /// One code per filter, in order: the granted QoS (0x00-0x02) or a failure code.
    public var reasonCodes: [ReasonCode]
    public var properties: Properties

    public init(reasonCodes: [ReasonCode], properties: Properties = []) {
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}
