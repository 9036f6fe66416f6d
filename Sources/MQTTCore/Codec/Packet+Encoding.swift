import NIOCore

extension Packet {
    /// Encodes the packet for `version` at the writer index of `buffer`.
    ///
    /// The remaining length is computed before anything is written, and the packet is written straight into
    /// `buffer`. If the result would exceed `maximumPacketSize` (the peer's Maximum Packet Size), packets other
    /// than PUBLISH and CONNECT first drop their Reason String, then their user properties, as MQTT 5.0 allows
    /// ([MQTT-3.2.2-19], [MQTT-3.2.2-20] and their twins for the other acks); a packet that still does not fit
    /// throws `MQTTEncodingError.packetTooLarge` and leaves `buffer` unchanged: a PUBLISH that does not fit is not
    /// sent at all [MQTT-3.1.2-25]. Fields MQTT 3.1 and 3.1.1 lack (properties, reason codes on acks) are not
    /// written for those versions.
    @inlinable
    public func encode(
        into buffer: inout ByteBuffer,
        version: ProtocolVersion,
        maximumPacketSize: Int = MQTTPacketDecoder.largestPossiblePacketSize
    ) throws(MQTTEncodingError) {
        try validateForEncoding(version: version)
        var omission = PropertyOmission.nothing
        var remainingLength = bodyLength(version: version, omitting: omission)
        if 1 + EncodedSize.variableByteInteger(remainingLength) + remainingLength > maximumPacketSize,
            version.hasProperties, mayOmitProperties
        {
            for candidate in [PropertyOmission.reasonString, .reasonStringAndUserProperties] {
                omission = candidate
                remainingLength = bodyLength(version: version, omitting: omission)
                if 1 + EncodedSize.variableByteInteger(remainingLength) + remainingLength <= maximumPacketSize {
                    break
                }
            }
        }
        guard remainingLength <= 268_435_455 else { throw .remainingLengthTooLarge(remainingLength) }
        let size = 1 + EncodedSize.variableByteInteger(remainingLength) + remainingLength
        guard size <= maximumPacketSize else { throw .packetTooLarge(size: size, maximum: maximumPacketSize) }

        buffer.reserveCapacity(minimumWritableBytes: size)
        buffer.writeInteger(type.rawValue << 4 | fixedHeaderFlags)
        buffer.writeVariableByteInteger(remainingLength)
        writeBody(to: &buffer, version: version, omitting: omission)
    }

    /// The number of bytes `encode(into:version:)` writes for this packet, without any properties omitted.
    @inlinable
    public func encodedSize(version: ProtocolVersion) -> Int {
        let remainingLength = bodyLength(version: version, omitting: .nothing)
        return 1 + EncodedSize.variableByteInteger(remainingLength) + remainingLength
    }

    /// Packets whose Reason String and user properties may be left out to fit the peer's maximum packet size.
    @inlinable
    var mayOmitProperties: Bool {
        switch self {
        case .connack, .puback, .pubrec, .pubrel, .pubcomp, .suback, .unsuback, .disconnect, .auth: true
        case .connect, .publish, .subscribe, .unsubscribe, .pingreq, .pingresp: false
        }
    }

    @inlinable
    var fixedHeaderFlags: UInt8 {
        guard case .publish(let publish) = self else { return type.requiredFlags }
        return PublishPacket.fixedHeaderFlags(qos: publish.qos, retain: publish.retain, duplicate: publish.duplicate)
    }

    @inlinable
    func validateForEncoding(version: ProtocolVersion) throws(MQTTEncodingError) {
        func check(_ string: String) throws(MQTTEncodingError) {
            if string.utf8.count > 65_535 { throw .fieldTooLong(string.utf8.count) }
        }
        func check(_ bytes: ByteBuffer) throws(MQTTEncodingError) {
            if bytes.readableBytes > 65_535 { throw .fieldTooLong(bytes.readableBytes) }
        }
        func check(_ properties: Properties) throws(MQTTEncodingError) {
            if version.hasProperties { try properties.validateForEncoding() }
        }
        switch self {
        case .connect(let connect):
            try check(connect.clientIdentifier)
            try check(connect.properties)
            if let will = connect.will {
                try check(will.topic)
                try check(will.payload)
                try check(will.properties)
            }
            if let username = connect.username { try check(username) }
            if let password = connect.password { try check(password) }
        case .connack(let connack):
            try check(connack.properties)
        case .publish(let publish):
            try check(publish.topic)
            try check(publish.properties)
            if (publish.qos == .atMostOnce) != (publish.packetIdentifier == nil) { throw .packetIdentifierMismatch }
        case .puback(let ack), .pubrec(let ack), .pubrel(let ack), .pubcomp(let ack):
            try check(ack.properties)
        case .subscribe(let subscribe):
            try check(subscribe.properties)
            for subscription in subscribe.subscriptions { try check(subscription.topicFilter) }
        case .suback(let suback):
            try check(suback.properties)
        case .unsubscribe(let unsubscribe):
            try check(unsubscribe.properties)
            for filter in unsubscribe.topicFilters { try check(filter) }
        case .unsuback(let unsuback):
            try check(unsuback.properties)
        case .pingreq, .pingresp:
            break
        case .disconnect(let disconnect):
            try check(disconnect.properties)
        case .auth(let auth):
            guard version.hasProperties else { throw .unsupportedInVersion(.auth, version) }
            try check(auth.properties)
        }
    }

    // MARK: Lengths

    @inlinable
    func bodyLength(version: ProtocolVersion, omitting omission: PropertyOmission) -> Int {
        let v5 = version.hasProperties
        func properties(_ properties: Properties) -> Int { v5 ? properties.encodedLength(omitting: omission) : 0 }
        switch self {
        case .connect(let connect):
            var length = EncodedSize.string(version.protocolName) + 1 + 1 + 2 + properties(connect.properties)
            length += EncodedSize.string(connect.clientIdentifier)
            if let will = connect.will {
                length += properties(will.properties) + EncodedSize.string(will.topic)
                length += EncodedSize.binary(will.payload)
            }
            if let username = connect.username { length += EncodedSize.string(username) }
            if let password = connect.password { length += EncodedSize.binary(password) }
            return length
        case .connack(let connack):
            return 2 + properties(connack.properties)
        case .publish(let publish):
            return PublishPacket.bodyLength(
                topic: publish.topic, payloadBytes: publish.payload.readableBytes,
                hasPacketIdentifier: publish.packetIdentifier != nil,
                propertyLength: v5 ? publish.properties.encodedContentLength(omitting: omission) : nil)
        case .puback(let ack), .pubrec(let ack), .pubrel(let ack), .pubcomp(let ack):
            guard v5 else { return 2 }
            let propertyLength = ack.properties.encodedContentLength(omitting: omission)
            if propertyLength == 0 { return ack.reasonCode == .success ? 2 : 3 }
            return 3 + EncodedSize.variableByteInteger(propertyLength) + propertyLength
        case .subscribe(let subscribe):
            var length = 2 + properties(subscribe.properties)
            for subscription in subscribe.subscriptions { length += EncodedSize.string(subscription.topicFilter) + 1 }
            return length
        case .suback(let suback):
            return 2 + properties(suback.properties) + suback.reasonCodes.count
        case .unsubscribe(let unsubscribe):
            var length = 2 + properties(unsubscribe.properties)
            for filter in unsubscribe.topicFilters { length += EncodedSize.string(filter) }
            return length
        case .unsuback(let unsuback):
            return v5 ? 2 + properties(unsuback.properties) + unsuback.reasonCodes.count : 2
        case .pingreq, .pingresp:
            return 0
        case .disconnect(let packet):
            return v5 ? Self.reasonAndPropertiesLength(packet.reasonCode, packet.properties, omission) : 0
        case .auth(let packet):
            return Self.reasonAndPropertiesLength(packet.reasonCode, packet.properties, omission)
        }
    }

    /// DISCONNECT and AUTH: nothing for success without properties, the reason code alone without properties.
    @inlinable
    static func reasonAndPropertiesLength(_ reasonCode: ReasonCode, _ properties: Properties,
                                          _ omission: PropertyOmission) -> Int
    {
        let propertyLength = properties.encodedContentLength(omitting: omission)
        if propertyLength == 0 { return reasonCode == .success ? 0 : 1 }
        return 1 + EncodedSize.variableByteInteger(propertyLength) + propertyLength
    }

    // MARK: Writing

    @inlinable
    func writeBody(to buffer: inout ByteBuffer, version: ProtocolVersion, omitting omission: PropertyOmission) {
        let v5 = version.hasProperties
        func write(_ properties: Properties) {
            if v5 { properties.write(to: &buffer, omitting: omission) }
        }
        switch self {
        case .connect(let connect):
            buffer.writeMQTTString(version.protocolName)
            buffer.writeInteger(version.rawValue)
            var flags: UInt8 = connect.cleanStart ? 0x02 : 0
            if let will = connect.will {
                flags |= 0x04 | will.qos.rawValue << 3 | (will.retain ? 0x20 : 0)
            }
            if connect.password != nil { flags |= 0x40 }
            if connect.username != nil { flags |= 0x80 }
            buffer.writeInteger(flags)
            buffer.writeInteger(connect.keepAlive)
            write(connect.properties)
            buffer.writeMQTTString(connect.clientIdentifier)
            if let will = connect.will {
                write(will.properties)
                buffer.writeMQTTString(will.topic)
                buffer.writeMQTTBinary(will.payload)
            }
            if let username = connect.username { buffer.writeMQTTString(username) }
            if let password = connect.password { buffer.writeMQTTBinary(password) }
        case .connack(let connack):
            // MQTT 3.1 has no Session Present flag.
            buffer.writeInteger(UInt8(connack.sessionPresent && version != .v3_1 ? 1 : 0))
            buffer.writeInteger(v5 ? connack.reasonCode.rawValue : connack.reasonCode.connectReturnCode)
            write(connack.properties)
        case .publish(let publish):
            buffer.writeMQTTString(publish.topic)
            if let packetIdentifier = publish.packetIdentifier { buffer.writeInteger(packetIdentifier) }
            write(publish.properties)
            buffer.writeImmutableBuffer(publish.payload)
        case .puback(let ack), .pubrec(let ack), .pubrel(let ack), .pubcomp(let ack):
            buffer.writeInteger(ack.packetIdentifier)
            guard v5 else { return }
            let hasProperties = ack.properties.encodedContentLength(omitting: omission) > 0
            if ack.reasonCode != .success || hasProperties { buffer.writeInteger(ack.reasonCode.rawValue) }
            if hasProperties { write(ack.properties) }
        case .subscribe(let subscribe):
            buffer.writeInteger(subscribe.packetIdentifier)
            write(subscribe.properties)
            for subscription in subscribe.subscriptions {
                buffer.writeMQTTString(subscription.topicFilter)
                let options = subscription.options
                var byte = options.qos.rawValue
                if v5 {
                    byte |= (options.noLocal ? 0x04 : 0) | (options.retainAsPublished ? 0x08 : 0)
                    byte |= options.retainHandling.rawValue << 4
                }
                buffer.writeInteger(byte)
            }
        case .suback(let suback):
            buffer.writeInteger(suback.packetIdentifier)
            write(suback.properties)
            for code in suback.reasonCodes {
                // 3.1.1 knows only the granted QoS and 0x80 Failure.
                buffer.writeInteger(v5 || code.rawValue <= 2 ? code.rawValue : 0x80)
            }
        case .unsubscribe(let unsubscribe):
            buffer.writeInteger(unsubscribe.packetIdentifier)
            write(unsubscribe.properties)
            for filter in unsubscribe.topicFilters { buffer.writeMQTTString(filter) }
        case .unsuback(let unsuback):
            buffer.writeInteger(unsuback.packetIdentifier)
            guard v5 else { return }
            write(unsuback.properties)
            for code in unsuback.reasonCodes { buffer.writeInteger(code.rawValue) }
        case .pingreq, .pingresp:
            break
        case .disconnect(let packet):
            if v5 { Self.writeReasonAndProperties(packet.reasonCode, packet.properties, omission, to: &buffer) }
        case .auth(let packet):
            Self.writeReasonAndProperties(packet.reasonCode, packet.properties, omission, to: &buffer)
        }
    }

    @inlinable
    static func writeReasonAndProperties(_ reasonCode: ReasonCode, _ properties: Properties,
                                         _ omission: PropertyOmission, to buffer: inout ByteBuffer)
    {
        let hasProperties = properties.encodedContentLength(omitting: omission) > 0
        if reasonCode != .success || hasProperties { buffer.writeInteger(reasonCode.rawValue) }
        if hasProperties { properties.write(to: &buffer, omitting: omission) }
    }
}
