import MQTTCore
import NIOCore

/// An application message inside the broker: what a PUBLISH (or a will) carried, stripped of per-hop fields
/// (packet identifier, DUP, topic alias, subscription identifiers), with its expiry as a deadline.
public struct ApplicationMessage: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    /// The properties forwarded to subscribers unchanged: Payload Format Indicator, Content Type, Response
    /// Topic, Correlation Data and user properties, in order [MQTT-3.3.2-17, MQTT-3.3.2-18].
    public var properties: Properties
    /// When the message expires (from its Message Expiry Interval), or nil for never.
    public var expiresAt: NIODeadline?
    /// The client that published it, for No Local; nil for messages the broker made itself.
    public var publisher: ClientIdentifier?

    public init(topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, properties: Properties = [],
                expiresAt: NIODeadline? = nil, publisher: ClientIdentifier? = nil)
    {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.expiresAt = expiresAt
        self.publisher = publisher
    }

    /// Builds the message from an inbound PUBLISH whose topic alias has been resolved.
    init(publish: PublishPacket, topic: String, publisher: ClientIdentifier, now: NIODeadline) {
        var forwarded = Properties()
        var expiresAt: NIODeadline?
        for property in publish.properties {
            switch property {
            case .messageExpiryInterval(let seconds):
                expiresAt = now + .seconds(Int64(seconds))
            case .topicAlias, .subscriptionIdentifier:
                break  // per hop [MQTT-3.3.2-?: the alias is not forwarded; identifiers are the receiver's own]
            default:
                forwarded.append(property)
            }
        }
        self.init(topic: topic, payload: publish.payload, qos: publish.qos, retain: publish.retain,
                  properties: forwarded, expiresAt: expiresAt, publisher: publisher)
    }

    /// Builds the message a will stands for.
    init(will: LastWill, publisher: ClientIdentifier, now: NIODeadline) {
        var forwarded = Properties()
        var expiresAt: NIODeadline?
        for property in will.properties {
            switch property {
            case .messageExpiryInterval(let seconds): expiresAt = now + .seconds(Int64(seconds))
            case .willDelayInterval: break
            default: forwarded.append(property)
            }
        }
        self.init(topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain,
                  properties: forwarded, expiresAt: expiresAt, publisher: publisher)
    }

    /// Whether the message has expired at `now`.
    @inlinable
    public func isExpired(at now: NIODeadline) -> Bool {
        if let expiresAt { return expiresAt <= now }
        return false
    }

    /// The PUBLISH that delivers this message to one subscriber, with the remaining expiry interval
    /// [MQTT-3.3.2-6] and the subscriber's subscription identifiers.
    func publishPacket(qos: QoS, retain: Bool, packetIdentifier: UInt16?, subscriptionIdentifiers: [UInt32],
                       now: NIODeadline, duplicate: Bool = false) -> PublishPacket
    {
        var properties = self.properties
        if let expiresAt {
            let remaining = max(0, (expiresAt - now).nanoseconds / 1_000_000_000)
            properties.append(.messageExpiryInterval(UInt32(clamping: remaining)))
        }
        for identifier in subscriptionIdentifiers { properties.append(.subscriptionIdentifier(identifier)) }
        return PublishPacket(topic: topic, payload: payload, qos: qos, retain: retain, duplicate: duplicate,
                             packetIdentifier: packetIdentifier, properties: properties)
    }
}
