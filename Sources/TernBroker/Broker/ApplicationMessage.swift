import CTernPrefetch
import MQTTCore
import NIOCore

/// An application message inside the broker: what a PUBLISH (or a will) carried, stripped of per-hop fields
/// (packet identifier, DUP, topic alias, subscription identifiers), with its expiry as a deadline.
public struct ApplicationMessage: Sendable, Hashable {
    /// The message's fields, shared by every copy: a message is copied into each subscriber's delivery, queue
    /// and inflight entry and into the retained store, and a copy now costs one retain instead of one per field
    /// that holds a reference (topic, payload, properties, publisher). A message never changes once built.
    @usableFromInline
    final class Storage: Sendable {
        let topic: String
        let payload: ByteBuffer
        let qos: QoS
        let retain: Bool
        let properties: Properties
        let expiresAt: NIODeadline?
        let publisher: ClientIdentifier?

        init(topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, properties: Properties,
             expiresAt: NIODeadline?, publisher: ClientIdentifier?)
        {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
            self.properties = properties
            self.expiresAt = expiresAt
            self.publisher = publisher
        }
    }

    @usableFromInline
    let storage: Storage

    public var topic: String { storage.topic }
    public var payload: ByteBuffer { storage.payload }
    public var qos: QoS { storage.qos }
    public var retain: Bool { storage.retain }
    /// The properties forwarded to subscribers unchanged: Payload Format Indicator, Content Type, Response
    /// Topic, Correlation Data and user properties, in order [MQTT-3.3.2-17, MQTT-3.3.2-18].
    public var properties: Properties { storage.properties }
    /// When the message expires (from its Message Expiry Interval), or nil for never.
    public var expiresAt: NIODeadline? { storage.expiresAt }
    /// The client that published it, for No Local; nil for messages the broker made itself.
    public var publisher: ClientIdentifier? { storage.publisher }
    /// The payload's size in bytes, read without copying the payload out (a retain and a release).
    public var payloadSize: Int { storage.payload.readableBytes }

    /// Asks the processor to fetch the message's storage object into its caches ahead of its use: both of its
    /// cache lines (the object takes about 100 bytes; the expiry and the publisher lie in the second).
    @inline(__always)
    func prefetchStorage() {
        let address = UnsafeRawPointer(Unmanaged.passUnretained(storage).toOpaque())
        tern_prefetch(address)
        tern_prefetch(address + 64)
    }

    public init(topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, properties: Properties = [],
                expiresAt: NIODeadline? = nil, publisher: ClientIdentifier? = nil)
    {
        storage = Storage(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties,
                          expiresAt: expiresAt, publisher: publisher)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.storage === rhs.storage
            || (lhs.topic == rhs.topic && lhs.payload == rhs.payload && lhs.qos == rhs.qos
                && lhs.retain == rhs.retain && lhs.properties == rhs.properties && lhs.expiresAt == rhs.expiresAt
                && lhs.publisher == rhs.publisher)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(topic)
        hasher.combine(payload)
        hasher.combine(qos)
        hasher.combine(retain)
        hasher.combine(properties)
        hasher.combine(expiresAt)
        hasher.combine(publisher)
    }

    /// Builds the message from an inbound PUBLISH whose topic alias has been resolved.
    init(publish: consuming PublishPacket, topic: String, publisher: ClientIdentifier, now: NIODeadline) {
        var forwarded = Properties()
        var expiresAt: NIODeadline?
        // Checked first: a `for`-`in` copies the array (a retain and a release per message), most often empty.
        if !publish.properties.isEmpty {
            for property in publish.properties {
                switch property {
                case .messageExpiryInterval(let seconds):
                    expiresAt = now + .seconds(Int64(seconds))
                case .topicAlias, .subscriptionIdentifier:
                    // Per hop: an alias belongs to its connection [MQTT-3.3.2-7], the identifiers sent are the
                    // receiver's own [MQTT-3.3.4-3].
                    break
                default:
                    forwarded.append(property)
                }
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

    /// The identity of the message object (one message routed to many subscribers is one object), not of its
    /// contents: the server uses it to encode a message's bytes once for all its QoS 0 subscribers. It stays the
    /// message's own only while the message is held.
    public var identity: ObjectIdentifier { ObjectIdentifier(storage) }

    /// Whether the message has expired at `now`.
    public func isExpired(at now: NIODeadline) -> Bool {
        if let expiresAt = storage.expiresAt { return expiresAt <= now }
        return false
    }
}
