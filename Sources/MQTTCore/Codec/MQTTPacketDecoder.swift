import NIOCore

/// An incremental, strict MQTT packet decoder over `ByteBuffer`.
///
/// Feed it the bytes received so far; it returns one packet at a time, or nil when the next packet is not complete
/// yet, and never reads past the packet it returns. A packet larger than `maximumPacketSize` is refused from its
/// fixed header alone, before its body is buffered. Every violation of the encoding rules of MQTT 3.1, 3.1.1 and
/// 5.0 throws an `MQTTDecodingError` carrying the reason code to answer with.
///
/// A server-side decoder starts without a protocol version and learns it from CONNECT: as soon as the CONNECT's
/// protocol level has been read (even if the rest of it is malformed, so the server can answer in that version's
/// format). A client-side decoder is created with the version it connects with.
public struct MQTTPacketDecoder: Sendable {
    /// The largest packet accepted, fixed header included (MQTT 5.0's Maximum Packet Size).
    public var maximumPacketSize: Int
    /// The version packets are decoded as; nil until a CONNECT has been read.
    public var protocolVersion: ProtocolVersion?

    /// The topic name of the last PUBLISH decoded that named one. A publisher mostly sends to the topic it sent
    /// to last: the same bytes again are decoded to this string, without allocating a new one or validating them
    /// again (the outcome depends on the bytes alone). Saves the allocation of a topic over 15 bytes (one of the
    /// broker's two allocations per message) and the scan of every byte of it.
    @usableFromInline var lastTopic = ""

    /// The largest packet MQTT can express: a remaining length of 268,435,455 plus a five-byte fixed header.
    public static let largestPossiblePacketSize = 268_435_460

    public init(maximumPacketSize: Int = MQTTPacketDecoder.largestPossiblePacketSize,
                protocolVersion: ProtocolVersion? = nil)
    {
        self.maximumPacketSize = maximumPacketSize
        self.protocolVersion = protocolVersion
    }

    /// Decodes the next packet from the readable bytes of `buffer`, moving its reader index past that packet.
    /// Returns nil, leaving `buffer` untouched, when the packet is not complete yet.
    @inlinable
    public mutating func decode(_ buffer: inout ByteBuffer) throws(MQTTDecodingError) -> Packet? {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self) else { return nil }
        let typeValue = first >> 4
        let flags = first & 0x0F
        guard let type = PacketType(rawValue: typeValue) else { throw .reservedPacketType(typeValue) }

        // Remaining length: a variable byte integer of at most four bytes, in its shortest form [MQTT-1.5.5-1].
        guard let (remainingLength, lengthBytes) = try buffer.getVariableByteInteger(at: start + 1) else {
            return nil
        }
        let headerLength = 1 + lengthBytes
        let size = headerLength + remainingLength
        if size > maximumPacketSize { throw .packetTooLarge(size: size, maximum: maximumPacketSize) }

        if type == .connect {
            try Self.checkFlags(type, flags, version: protocolVersion ?? .v5)
        } else {
            guard let version = protocolVersion else { throw .expectedConnect(type) }  // [MQTT-3.1.0-1]
            if type == .auth && version != .v5 { throw .reservedPacketType(typeValue) }
            try Self.checkFlags(type, flags, version: version)
        }
        guard buffer.readableBytes >= size else { return nil }

        buffer.moveReaderIndex(forwardBy: headerLength)
        var reader = PacketBodyReader(buffer: buffer, type: type, length: remainingLength)
        buffer.moveReaderIndex(forwardBy: remainingLength)
        let packet = try decodeBody(type: type, flags: flags, reader: &reader)
        guard reader.remaining == 0 else { throw .trailingBytes(type) }
        return packet
    }

    /// The size of the packet that starts `buffer`'s readable bytes, fixed header included; nil while its fixed
    /// header is incomplete, or malformed (which `decode` reports).
    public static func sizeOfNextPacket(in buffer: ByteBuffer) -> Int? {
        guard let (remainingLength, lengthBytes) = try? buffer.getVariableByteInteger(at: buffer.readerIndex + 1)
        else { return nil }
        return 1 + lengthBytes + remainingLength
    }

    /// Reserved flag bits of the fixed header [MQTT-2.1.3-1]; PUBLISH flags are checked with its body.
    @inlinable
    static func checkFlags(_ type: PacketType, _ flags: UInt8, version: ProtocolVersion)
        throws(MQTTDecodingError)
    {
        if type == .publish { return }
        if flags == type.requiredFlags { return }
        // MQTT 3.1 allowed DUP on re-sent PUBREL, SUBSCRIBE and UNSUBSCRIBE.
        if version == .v3_1 && type.requiredFlags != 0 && flags == type.requiredFlags | 0b1000 { return }
        throw .invalidFixedHeaderFlags(type, flags: flags)
    }

    @inlinable
    mutating func decodeBody(type: PacketType, flags: UInt8, reader: inout PacketBodyReader)
        throws(MQTTDecodingError) -> Packet
    {
        if type == .connect { return .connect(try decodeConnect(&reader)) }
        let version = protocolVersion!
        switch type {
        case .connect: preconditionFailure()
        case .connack: return .connack(try Self.decodeConnAck(&reader, version: version))
        case .publish: return .publish(try decodePublish(&reader, flags: flags, version: version))
        case .puback: return .puback(try Self.decodePublishAck(&reader, version: version))
        case .pubrec: return .pubrec(try Self.decodePublishAck(&reader, version: version))
        case .pubrel: return .pubrel(try Self.decodePublishAck(&reader, version: version))
        case .pubcomp: return .pubcomp(try Self.decodePublishAck(&reader, version: version))
        case .subscribe: return .subscribe(try Self.decodeSubscribe(&reader, version: version))
        case .suback: return .suback(try Self.decodeSubAck(&reader, version: version))
        case .unsubscribe: return .unsubscribe(try Self.decodeUnsubscribe(&reader, version: version))
        case .unsuback: return .unsuback(try Self.decodeUnsubAck(&reader, version: version))
        case .pingreq: return .pingreq
        case .pingresp: return .pingresp
        case .disconnect: return .disconnect(try Self.decodeDisconnect(&reader, version: version))
        case .auth: return .auth(try Self.decodeAuth(&reader))
        }
    }

    // MARK: CONNECT and CONNACK

    @inlinable
    mutating func decodeConnect(_ reader: inout PacketBodyReader) throws(MQTTDecodingError) -> ConnectPacket {
        let name = try reader.readString()
        let level = try reader.readByte()
        guard name == "MQTT" || name == "MQIsdp" else { throw .invalidProtocolName(name) }  // [MQTT-3.1.2-1]
        guard let version = ProtocolVersion(rawValue: level), version.protocolName == name else {
            throw .unsupportedProtocolLevel(level)  // [MQTT-3.1.2-2]
        }
        protocolVersion = version

        let flags = try reader.readByte()
        let hasUsername = flags & 0x80 != 0
        let hasPassword = flags & 0x40 != 0
        let willRetain = flags & 0x20 != 0
        let willQoSValue = (flags >> 3) & 0x03
        let hasWill = flags & 0x04 != 0
        let cleanStart = flags & 0x02 != 0
        guard flags & 0x01 == 0 else { throw .invalidConnectFlags(flags) }  // [MQTT-3.1.2-3]
        if !hasWill && (willQoSValue != 0 || willRetain) {
            throw .invalidConnectFlags(flags)  // [MQTT-3.1.2-11, MQTT-3.1.2-13]
        }
        guard let willQoS = QoS(rawValue: willQoSValue) else { throw .invalidQoS(willQoSValue) }  // [MQTT-3.1.2-12]
        if version == .v3_1_1 && hasPassword && !hasUsername { throw .invalidConnectFlags(flags) }  // [MQTT-3.1.2-22]

        let keepAlive = try reader.readUInt16()
        let properties = version.hasProperties ? try Properties.decode(from: &reader, scope: .connect) : []

        let clientIdentifier = try reader.readString()
        var will: LastWill?
        if hasWill {
            let willProperties = version.hasProperties ? try Properties.decode(from: &reader, scope: .will) : []
            let topic = try reader.readString()
            guard Self.isValidTopicName(topic) else { throw .invalidTopicName(topic) }
            let payload = try reader.readBinary()
            will = LastWill(topic: topic, payload: payload, qos: willQoS, retain: willRetain,
                            properties: willProperties)
        }
        let username = hasUsername ? try reader.readString() : nil
        let password = hasPassword ? try reader.readBinary() : nil
        return ConnectPacket(
            protocolVersion: version, cleanStart: cleanStart, keepAlive: keepAlive,
            clientIdentifier: clientIdentifier, will: will, username: username, password: password,
            properties: properties)
    }

    @inlinable
    static func decodeConnAck(_ reader: inout PacketBodyReader, version: ProtocolVersion)
        throws(MQTTDecodingError) -> ConnAckPacket
    {
        let flags = try reader.readByte()
        // MQTT 3.1 has no Session Present flag: its first byte is reserved.
        guard flags & 0xFE == 0 && (version != .v3_1 || flags == 0) else { throw .invalidConnAckFlags(flags) }
        let code = try reader.readByte()
        let reasonCode: ReasonCode
        if version.hasProperties {
            reasonCode = ReasonCode(rawValue: code)
            guard reasonCode.isValid(in: .connack) else { throw .invalidReasonCode(code, .connack) }
        } else {
            guard let mapped = ReasonCode(connectReturnCode: code) else { throw .invalidReasonCode(code, .connack) }
            reasonCode = mapped
        }
        let properties = version.hasProperties ? try Properties.decode(from: &reader, scope: .connack) : []
        return ConnAckPacket(sessionPresent: flags & 0x01 != 0, reasonCode: reasonCode, properties: properties)
    }

    // MARK: PUBLISH and its acknowledgements

    @inlinable
    mutating func decodePublish(_ reader: inout PacketBodyReader, flags: UInt8, version: ProtocolVersion)
        throws(MQTTDecodingError) -> PublishPacket
    {
        let qosValue = (flags >> 1) & 0x03
        guard let qos = QoS(rawValue: qosValue) else { throw .invalidQoS(qosValue) }  // [MQTT-3.3.1-4]
        let duplicate = flags & 0x08 != 0
        if duplicate && qos == .atMostOnce { throw .duplicateFlagOnQoS0 }  // [MQTT-3.3.1-2]
        let isLastTopic = !lastTopic.isEmpty && reader.skipString(ifEqualTo: lastTopic)
        let topic = isLastTopic ? lastTopic : try reader.readString()
        let packetIdentifier = qos == .atMostOnce ? nil : try reader.readPacketIdentifier()
        let properties = !version.hasProperties || reader.skipEmptyProperties()
            ? [] : try Properties.decode(from: &reader, scope: .publish)
        if topic.isEmpty {
            // An empty topic name stands for the one a Topic Alias maps to, in MQTT 5.0 only [MQTT-3.3.2-1].
            guard version.hasProperties, properties.topicAlias != nil else { throw .invalidTopicName(topic) }
        } else if !isLastTopic {
            guard Self.isValidTopicName(topic) else { throw .invalidTopicName(topic) }  // [MQTT-3.3.2-2]
            lastTopic = topic
        }
        return PublishPacket(
            topic: topic, payload: reader.readRest(), qos: qos, retain: flags & 0x01 != 0, duplicate: duplicate,
            packetIdentifier: packetIdentifier, properties: properties)
    }

    @inlinable
    static func decodePublishAck(_ reader: inout PacketBodyReader, version: ProtocolVersion)
        throws(MQTTDecodingError) -> PublishAckPacket
    {
        let packetIdentifier = try reader.readPacketIdentifier()
        // MQTT 5.0: with remaining length 2 the reason code is Success; without properties, it stands alone.
        guard version.hasProperties, reader.remaining > 0 else {
            return PublishAckPacket(packetIdentifier: packetIdentifier)
        }
        let code = try reader.readByte()
        let reasonCode = ReasonCode(rawValue: code)
        guard reasonCode.isValid(in: reader.type) else { throw .invalidReasonCode(code, reader.type) }
        let properties =
            reader.remaining > 0 ? try Properties.decode(from: &reader, scope: PropertyScope(reader.type)) : []
        return PublishAckPacket(packetIdentifier: packetIdentifier, reasonCode: reasonCode, properties: properties)
    }

    // MARK: SUBSCRIBE, UNSUBSCRIBE and their acknowledgements

    @inlinable
    static func decodeSubscribe(_ reader: inout PacketBodyReader, version: ProtocolVersion)
        throws(MQTTDecodingError) -> SubscribePacket
    {
        let packetIdentifier = try reader.readPacketIdentifier()
        let properties = version.hasProperties ? try Properties.decode(from: &reader, scope: .subscribe) : []
        var subscriptions: [Subscription] = []
        while reader.remaining > 0 {
            let filter = try reader.readString()
            let options = try reader.readByte()
            subscriptions.append(Subscription(topicFilter: filter, options: try decodeOptions(options, version)))
        }
        guard !subscriptions.isEmpty else { throw .emptyPayload(.subscribe) }  // [MQTT-3.8.3-2]
        return SubscribePacket(packetIdentifier: packetIdentifier, subscriptions: subscriptions,
                               properties: properties)
    }

    @inlinable
    static func decodeOptions(_ byte: UInt8, _ version: ProtocolVersion) throws(MQTTDecodingError)
        -> SubscriptionOptions
    {
        // 3.1/3.1.1: bits 7..2 reserved [MQTT-3.8.3-4]; 5.0: bits 7..6 reserved [MQTT-3.8.3-5].
        let reserved: UInt8 = version.hasProperties ? 0xC0 : 0xFC
        guard byte & reserved == 0, let qos = QoS(rawValue: byte & 0x03) else {
            throw .invalidSubscriptionOptions(byte)
        }
        guard let retainHandling = RetainHandling(rawValue: (byte >> 4) & 0x03) else {
            throw .invalidRetainHandling
        }
        return SubscriptionOptions(
            qos: qos, noLocal: byte & 0x04 != 0, retainAsPublished: byte & 0x08 != 0, retainHandling: retainHandling)
    }

    @inlinable
    static func decodeSubAck(_ reader: inout PacketBodyReader, version: ProtocolVersion)
        throws(MQTTDecodingError) -> SubAckPacket
    {
        let packetIdentifier = try reader.readPacketIdentifier()
        let properties = version.hasProperties ? try Properties.decode(from: &reader, scope: .suback) : []
        let reasonCodes = try decodeReasonCodes(&reader, version: version)
        return SubAckPacket(packetIdentifier: packetIdentifier, reasonCodes: reasonCodes, properties: properties)
    }

    @inlinable
    static func decodeUnsubscribe(_ reader: inout PacketBodyReader, version: ProtocolVersion)
        throws(MQTTDecodingError) -> UnsubscribePacket
    {
        let packetIdentifier = try reader.readPacketIdentifier()
        let properties = version.hasProperties ? try Properties.decode(from: &reader, scope: .unsubscribe) : []
        var filters: [String] = []
        while reader.remaining > 0 {
            filters.append(try reader.readString())
        }
        guard !filters.isEmpty else { throw .emptyPayload(.unsubscribe) }  // [MQTT-3.10.3-2]
        return UnsubscribePacket(packetIdentifier: packetIdentifier, topicFilters: filters, properties: properties)
    }

    @inlinable
    static func decodeUnsubAck(_ reader: inout PacketBodyReader, version: ProtocolVersion)
        throws(MQTTDecodingError) -> UnsubAckPacket
    {
        let packetIdentifier = try reader.readPacketIdentifier()
        guard version.hasProperties else { return UnsubAckPacket(packetIdentifier: packetIdentifier) }
        let properties = try Properties.decode(from: &reader, scope: .unsuback)
        let reasonCodes = try decodeReasonCodes(&reader, version: version)
        return UnsubAckPacket(packetIdentifier: packetIdentifier, reasonCodes: reasonCodes, properties: properties)
    }

    /// The payload of SUBACK and UNSUBACK: one code per topic filter, at least one.
    @inlinable
    static func decodeReasonCodes(_ reader: inout PacketBodyReader, version: ProtocolVersion)
        throws(MQTTDecodingError) -> [ReasonCode]
    {
        guard reader.remaining > 0 else { throw .emptyPayload(reader.type) }
        var codes: [ReasonCode] = []
        codes.reserveCapacity(reader.remaining)
        while reader.remaining > 0 {
            let code = try reader.readByte()
            let reasonCode = ReasonCode(rawValue: code)
            let valid = version.hasProperties ? reasonCode.isValid(in: reader.type) : code <= 2 || code == 0x80
            guard valid else { throw .invalidReasonCode(code, reader.type) }
            codes.append(reasonCode)
        }
        return codes
    }

    // MARK: DISCONNECT and AUTH

    @inlinable
    static func decodeDisconnect(_ reader: inout PacketBodyReader, version: ProtocolVersion)
        throws(MQTTDecodingError) -> DisconnectPacket
    {
        guard version.hasProperties, reader.remaining > 0 else { return DisconnectPacket() }
        let (reasonCode, properties) = try decodeReasonAndProperties(&reader)
        return DisconnectPacket(reasonCode: reasonCode, properties: properties)
    }

    @inlinable
    static func decodeAuth(_ reader: inout PacketBodyReader) throws(MQTTDecodingError) -> AuthPacket {
        guard reader.remaining > 0 else { return AuthPacket() }
        let (reasonCode, properties) = try decodeReasonAndProperties(&reader)
        return AuthPacket(reasonCode: reasonCode, properties: properties)
    }

    /// A reason code, then properties if any bytes remain (DISCONNECT and AUTH).
    @inlinable
    static func decodeReasonAndProperties(_ reader: inout PacketBodyReader) throws(MQTTDecodingError)
        -> (ReasonCode, Properties)
    {
        let code = try reader.readByte()
        let reasonCode = ReasonCode(rawValue: code)
        guard reasonCode.isValid(in: reader.type) else { throw .invalidReasonCode(code, reader.type) }
        let properties =
            reader.remaining > 0 ? try Properties.decode(from: &reader, scope: PropertyScope(reader.type)) : []
        return (reasonCode, properties)
    }

    @inlinable
    static func isValidTopicName(_ topic: String) -> Bool {
        do {
            try TopicName.validate(topic)
            return true
        } catch {
            return false
        }
    }
}
