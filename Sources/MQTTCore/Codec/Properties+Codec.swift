import NIOCore

/// What an encoder may leave out of a property list so that a packet fits the peer's maximum packet size
/// ([MQTT-3.1.2-25]: the Reason String first, then user properties).
@usableFromInline
enum PropertyOmission: Int, Comparable, CaseIterable {
    case nothing
    case reasonString
    case reasonStringAndUserProperties

    @inlinable
    static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    @inlinable
    func omits(_ property: Property) -> Bool {
        switch (self, property) {
        case (.nothing, _): false
        case (_, .reasonString): true
        case (.reasonStringAndUserProperties, .userProperty): true
        default: false
        }
    }
}

extension Properties {
    /// Decodes a property list (its length, then the properties) for the given scope, enforcing which
    /// properties the scope allows, which may repeat, and the values the specification forbids.
    @inlinable
    static func decode(from reader: inout PacketBodyReader, scope: PropertyScope) throws(MQTTDecodingError)
        -> Properties
    {
        let length = try reader.readVariableByteInteger()
        if length == 0 { return Properties() }
        guard length <= reader.remaining else { throw .truncated(reader.type) }
        var properties = PacketBodyReader(buffer: reader.buffer, type: reader.type, length: length)
        reader.buffer.moveReaderIndex(forwardBy: length)
        var seen: UInt64 = 0
        var elements: [Property] = []
        while properties.remaining > 0 {
            // The identifier is a variable byte integer, though every defined one fits in a byte.
            let rawIdentifier = try properties.readVariableByteInteger()
            guard rawIdentifier <= 0xFF, let identifier = PropertyIdentifier(rawValue: UInt8(rawIdentifier)) else {
                throw .unknownProperty(rawIdentifier)
            }
            guard identifier.allowedScopes.contains(scope) else {
                throw .propertyNotAllowed(identifier, scope)
            }
            let bit: UInt64 = 1 << identifier.rawValue
            if seen & bit != 0 && !identifier.mayRepeat(in: scope) { throw .duplicateProperty(identifier) }
            seen |= bit
            elements.append(try Property.decodeValue(of: identifier, from: &properties))
        }
        return Properties(elements)
    }

    /// The encoded size of the properties themselves, without the property length in front.
    @inlinable
    func encodedContentLength(omitting omission: PropertyOmission) -> Int {
        var length = 0
        for property in elements where !omission.omits(property) {
            length += property.encodedLength
        }
        return length
    }

    /// The encoded size including the property length in front.
    @inlinable
    func encodedLength(omitting omission: PropertyOmission) -> Int {
        let content = encodedContentLength(omitting: omission)
        return EncodedSize.variableByteInteger(content) + content
    }

    /// Writes the property length and the properties.
    @inlinable
    func write(to buffer: inout ByteBuffer, omitting omission: PropertyOmission) {
        buffer.writeVariableByteInteger(encodedContentLength(omitting: omission))
        for property in elements where !omission.omits(property) {
            property.write(to: &buffer)
        }
    }

    /// Checks the lengths of string and binary values before anything is written.
    @inlinable
    func validateForEncoding() throws(MQTTEncodingError) {
        for property in elements {
            try property.validateForEncoding()
        }
    }

    /// Whether the list holds anything that `omission` would leave out.
    @inlinable
    func hasOmittable(_ omission: PropertyOmission) -> Bool {
        elements.contains { omission.omits($0) }
    }
}

extension Property {
    @inlinable
    static func decodeValue(of identifier: PropertyIdentifier, from reader: inout PacketBodyReader)
        throws(MQTTDecodingError) -> Property
    {
        func flag(_ identifier: PropertyIdentifier, _ byte: UInt8) throws(MQTTDecodingError) -> Bool {
            guard byte <= 1 else { throw .invalidPropertyValue(identifier) }
            return byte == 1
        }
        func nonZero<T: FixedWidthInteger>(_ identifier: PropertyIdentifier, _ value: T) throws(MQTTDecodingError)
            -> T
        {
            guard value != 0 else { throw .invalidPropertyValue(identifier) }
            return value
        }
        switch identifier {
        case .payloadFormatIndicator:
            guard let format = PayloadFormat(rawValue: try reader.readByte()) else {
                throw .invalidPropertyValue(identifier)
            }
            return .payloadFormatIndicator(format)
        case .messageExpiryInterval: return .messageExpiryInterval(try reader.readUInt32())
        case .contentType: return .contentType(try reader.readString())
        case .responseTopic: return .responseTopic(try reader.readString())
        case .correlationData: return .correlationData(try reader.readBinary())
        case .subscriptionIdentifier:
            return .subscriptionIdentifier(UInt32(try nonZero(identifier, reader.readVariableByteInteger())))
        case .sessionExpiryInterval: return .sessionExpiryInterval(try reader.readUInt32())
        case .assignedClientIdentifier: return .assignedClientIdentifier(try reader.readString())
        case .serverKeepAlive: return .serverKeepAlive(try reader.readUInt16())
        case .authenticationMethod: return .authenticationMethod(try reader.readString())
        case .authenticationData: return .authenticationData(try reader.readBinary())
        case .requestProblemInformation:
            return .requestProblemInformation(try flag(identifier, reader.readByte()))
        case .willDelayInterval: return .willDelayInterval(try reader.readUInt32())
        case .requestResponseInformation:
            return .requestResponseInformation(try flag(identifier, reader.readByte()))
        case .responseInformation: return .responseInformation(try reader.readString())
        case .serverReference: return .serverReference(try reader.readString())
        case .reasonString: return .reasonString(try reader.readString())
        case .receiveMaximum: return .receiveMaximum(try nonZero(identifier, reader.readUInt16()))
        case .topicAliasMaximum: return .topicAliasMaximum(try reader.readUInt16())
        case .topicAlias: return .topicAlias(try reader.readUInt16())
        case .maximumQoS:
            // "It is a Protocol Error to include Maximum QoS ... with a value other than 0 or 1".
            let qos = try reader.readByte()
            guard qos <= 1 else { throw .invalidPropertyValue(identifier) }
            return .maximumQoS(QoS(rawValue: qos)!)
        case .retainAvailable: return .retainAvailable(try flag(identifier, reader.readByte()))
        case .userProperty:
            let name = try reader.readString()
            return .userProperty(UserProperty(name, try reader.readString()))
        case .maximumPacketSize: return .maximumPacketSize(try nonZero(identifier, reader.readUInt32()))
        case .wildcardSubscriptionAvailable:
            return .wildcardSubscriptionAvailable(try flag(identifier, reader.readByte()))
        case .subscriptionIdentifierAvailable:
            return .subscriptionIdentifierAvailable(try flag(identifier, reader.readByte()))
        case .sharedSubscriptionAvailable:
            return .sharedSubscriptionAvailable(try flag(identifier, reader.readByte()))
        }
    }

    /// The encoded size: identifier byte plus value.
    @inlinable
    var encodedLength: Int {
        switch self {
        case .payloadFormatIndicator, .requestProblemInformation, .requestResponseInformation, .maximumQoS,
            .retainAvailable, .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable,
            .sharedSubscriptionAvailable:
            return 2
        case .serverKeepAlive, .receiveMaximum, .topicAliasMaximum, .topicAlias:
            return 3
        case .messageExpiryInterval, .sessionExpiryInterval, .willDelayInterval, .maximumPacketSize:
            return 5
        case .subscriptionIdentifier(let value):
            return 1 + EncodedSize.variableByteInteger(Int(value))
        case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
            .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s),
            .reasonString(let s):
            return 1 + EncodedSize.string(s)
        case .correlationData(let b), .authenticationData(let b):
            return 1 + EncodedSize.binary(b)
        case .userProperty(let pair):
            return 1 + EncodedSize.string(pair.name) + EncodedSize.string(pair.value)
        }
    }

    @inlinable
    func validateForEncoding() throws(MQTTEncodingError) {
        func check(_ length: Int) throws(MQTTEncodingError) {
            if length > 65_535 { throw .fieldTooLong(length) }
        }
        switch self {
        case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
            .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s),
            .reasonString(let s):
            try check(s.utf8.count)
        case .correlationData(let b), .authenticationData(let b):
            try check(b.readableBytes)
        case .userProperty(let pair):
            try check(pair.name.utf8.count)
            try check(pair.value.utf8.count)
        case .subscriptionIdentifier(let value):
            if value == 0 || value > 268_435_455 { throw .fieldTooLong(Int(value)) }
        default:
            break
        }
    }

    @inlinable
    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(identifier.rawValue)
        switch self {
        case .payloadFormatIndicator(let format): buffer.writeInteger(format.rawValue)
        case .requestProblemInformation(let flag), .requestResponseInformation(let flag),
            .retainAvailable(let flag), .wildcardSubscriptionAvailable(let flag),
            .subscriptionIdentifierAvailable(let flag), .sharedSubscriptionAvailable(let flag):
            buffer.writeInteger(UInt8(flag ? 1 : 0))
        case .maximumQoS(let qos): buffer.writeInteger(qos.rawValue)
        case .serverKeepAlive(let v), .receiveMaximum(let v), .topicAliasMaximum(let v), .topicAlias(let v):
            buffer.writeInteger(v)
        case .messageExpiryInterval(let v), .sessionExpiryInterval(let v), .willDelayInterval(let v),
            .maximumPacketSize(let v):
            buffer.writeInteger(v)
        case .subscriptionIdentifier(let v): buffer.writeVariableByteInteger(Int(v))
        case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
            .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s),
            .reasonString(let s):
            buffer.writeMQTTString(s)
        case .correlationData(let b), .authenticationData(let b):
            buffer.writeMQTTBinary(b)
        case .userProperty(let pair):
            buffer.writeMQTTString(pair.name)
            buffer.writeMQTTString(pair.value)
        }
    }
}
