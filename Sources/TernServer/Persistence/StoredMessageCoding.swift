import Foundation
import MQTTCore
import NIOCore
import TernBroker

/// The bytes a stored message is kept as: an MQTT 5 PUBLISH packet (topic, payload, QoS, retain flag and
/// properties), so the store reuses the codec and needs no format of its own. Expiry and publisher are columns.
enum StoredMessageCoding {
    static func encode(topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, properties: Properties) -> Data {
        var buffer = ByteBuffer()
        encode(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties, into: &buffer)
        return Data(buffer.readableBytesView)
    }

    /// Appends the stored bytes to `buffer`; `addedProperties` follow `properties` (no merged copy).
    static func encode(topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, properties: Properties,
                       addedProperties: Properties = Properties(), into buffer: inout ByteBuffer)
    {
        try? PublishPacket.encode(topic: topic, payload: payload, qos: qos, retain: retain, duplicate: false,
                                  packetIdentifier: qos == .atMostOnce ? nil : 1, properties: properties,
                                  addedProperties: addedProperties, into: &buffer, version: .v5)
    }

    static func decode(_ data: Data) throws(StoreError) -> PublishPacket {
        var buffer = ByteBufferAllocator().buffer(capacity: data.count)
        buffer.writeBytes(data)
        var decoder = MQTTPacketDecoder(protocolVersion: .v5)
        guard case .publish(let publish)? = try? decoder.decode(&buffer) else {
            throw StoreError(.invalidRecord, "a stored message cannot be decoded")
        }
        return publish
    }

    static func encode(_ message: StoredMessage) -> Data {
        encode(topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
               properties: message.properties)
    }

    static func decodeMessage(_ data: Data, expiresAt: Int64?, publisher: String?) throws(StoreError)
        -> StoredMessage
    {
        let publish = try decode(data)
        return StoredMessage(topic: publish.topic, payload: publish.payload, qos: publish.qos, retain: publish.retain,
                             properties: publish.properties, expiresAt: expiresAt, publisher: publisher)
    }

    /// A delivery: the message with the subscriber's subscription identifiers among its properties.
    static func encode(_ delivery: StoredDelivery, into buffer: inout ByteBuffer) {
        var identifiers = Properties()
        for identifier in delivery.subscriptionIdentifiers { identifiers.append(.subscriptionIdentifier(identifier)) }
        encode(topic: delivery.message.topic, payload: delivery.message.payload, qos: delivery.message.qos,
               retain: delivery.message.retain, properties: delivery.message.properties, addedProperties: identifiers,
               into: &buffer)
    }

    static func decodeDelivery(_ data: Data, qos: QoS, retain: Bool, expiresAt: Int64?, publisher: String?,
                               shared: String?) throws(StoreError) -> StoredDelivery
    {
        let publish = try decode(data)
        var properties = Properties()
        var identifiers: [UInt32] = []
        for property in publish.properties {
            if case .subscriptionIdentifier(let identifier) = property {
                identifiers.append(identifier)
            } else {
                properties.append(property)
            }
        }
        let message = StoredMessage(topic: publish.topic, payload: publish.payload, qos: publish.qos,
                                    retain: publish.retain, properties: properties, expiresAt: expiresAt,
                                    publisher: publisher)
        return StoredDelivery(message: message, qos: qos, retain: retain, subscriptionIdentifiers: identifiers,
                              sharedSubscription: shared.flatMap { try? SharedSubscription(parsing: $0) })
    }

    /// A will: its Will Delay Interval (not a PUBLISH property) is kept in a column of its own.
    static func encode(_ will: LastWill) -> (data: Data, delay: UInt32?) {
        var properties = Properties()
        var delay: UInt32?
        for property in will.properties {
            if case .willDelayInterval(let seconds) = property { delay = seconds } else { properties.append(property) }
        }
        return (encode(topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain,
                       properties: properties), delay)
    }

    static func decodeWill(_ data: Data, delay: UInt32?) throws(StoreError) -> LastWill {
        let publish = try decode(data)
        var properties = Properties()
        if let delay { properties.append(.willDelayInterval(delay)) }
        for property in publish.properties { properties.append(property) }
        return LastWill(topic: publish.topic, payload: publish.payload, qos: publish.qos, retain: publish.retain,
                        properties: properties)
    }

    static func sharedName(_ shared: SharedSubscription?) -> String? {
        shared.map { "$share/\($0.shareName)/\($0.topicFilter)" }
    }
}
