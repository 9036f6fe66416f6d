import MQTTCore
import NIOCore
import PropertyBased

/// Builds random packets that are valid for a protocol version, so that encoding then decoding must give them back.
struct RandomPacket<R: RandomNumberGenerator> {
    var rng: R
    let version: ProtocolVersion

    static func generator(for version: ProtocolVersion) -> Generator<Packet, Shrink.None<Packet>> {
        Generator { rng in
            var builder = RandomPacket<AnyRNG>(rng: AnyRNG(rng), version: version)
            return builder.packet()
        }
    }

    mutating func bool() -> Bool { Bool.random(using: &rng) }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func packetIdentifier() -> UInt16 { UInt16.random(in: 1...UInt16.max, using: &rng) }
    mutating func qos() -> QoS { QoS(rawValue: UInt8(int(0...2)))! }

    /// Strings mixing ASCII, multi-byte characters and emoji; never U+0000.
    mutating func string(maxLength: Int = 12, alphabet: [String] = RandomPacket.alphabet) -> String {
        String((0..<int(0...maxLength)).map { _ in alphabet.randomElement(using: &rng)! }.joined())
    }

    mutating func topicName() -> String {
        (0..<int(1...4)).map { _ in string(maxLength: 5, alphabet: Self.topicAlphabet) }.joined(separator: "/")
            .nonEmpty(or: "t")
    }

    mutating func bytes(maxLength: Int = 40) -> ByteBuffer {
        ByteBuffer(bytes: (0..<int(0...maxLength)).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    static var alphabet: [String] { ["a", "Z", "9", " ", "/", "+", "#", "é", "ß", "中", "😀", "\u{7F}", "$"] }
    static var topicAlphabet: [String] { ["a", "b", "Z", "0", " ", "é", "中", "😀", "$", "-"] }

    mutating func reasonCode(for type: PacketType) -> ReasonCode {
        let valid = (0...255).map { ReasonCode(rawValue: UInt8($0)) }.filter { $0.isValid(in: type) }
        return valid.randomElement(using: &rng)!
    }

    /// A random property list for the scope: each allowed property at most once (repeatable ones up to three
    /// times), with legal values. Empty for versions without properties.
    mutating func properties(_ scope: PropertyScope) -> Properties {
        guard version == .v5 else { return [] }
        var properties = Properties()
        for identifier in PropertyIdentifier.allCases.shuffled(using: &rng)
        where identifier.allowedScopes.contains(scope) && int(0...3) == 0 {
            let repeats = identifier.mayRepeat(in: scope) ? int(1...3) : 1
            for _ in 0..<repeats { properties.append(property(identifier)) }
        }
        return properties
    }

    mutating func property(_ identifier: PropertyIdentifier) -> Property {
        switch identifier {
        case .payloadFormatIndicator: .payloadFormatIndicator(bool() ? .utf8 : .unspecified)
        case .messageExpiryInterval: .messageExpiryInterval(UInt32.random(in: 0...UInt32.max, using: &rng))
        case .contentType: .contentType(string())
        case .responseTopic: .responseTopic(topicName())
        case .correlationData: .correlationData(bytes())
        case .subscriptionIdentifier:
            .subscriptionIdentifier(bool() ? UInt32(int(1...127)) : UInt32(int(1...268_435_455)))
        case .sessionExpiryInterval: .sessionExpiryInterval(UInt32.random(in: 0...UInt32.max, using: &rng))
        case .assignedClientIdentifier: .assignedClientIdentifier(string())
        case .serverKeepAlive: .serverKeepAlive(UInt16.random(in: 0...UInt16.max, using: &rng))
        case .authenticationMethod: .authenticationMethod(string())
        case .authenticationData: .authenticationData(bytes())
        case .requestProblemInformation: .requestProblemInformation(bool())
        case .willDelayInterval: .willDelayInterval(UInt32.random(in: 0...UInt32.max, using: &rng))
        case .requestResponseInformation: .requestResponseInformation(bool())
        case .responseInformation: .responseInformation(string())
        case .serverReference: .serverReference(string())
        case .reasonString: .reasonString(string(maxLength: 30))
        case .receiveMaximum: .receiveMaximum(UInt16.random(in: 1...UInt16.max, using: &rng))
        case .topicAliasMaximum: .topicAliasMaximum(UInt16.random(in: 0...UInt16.max, using: &rng))
        case .topicAlias: .topicAlias(UInt16.random(in: 1...UInt16.max, using: &rng))
        case .maximumQoS: .maximumQoS(bool() ? .atLeastOnce : .atMostOnce)
        case .retainAvailable: .retainAvailable(bool())
        case .userProperty: .userProperty(UserProperty(string(), string()))
        case .maximumPacketSize: .maximumPacketSize(UInt32.random(in: 1...UInt32.max, using: &rng))
        case .wildcardSubscriptionAvailable: .wildcardSubscriptionAvailable(bool())
        case .subscriptionIdentifierAvailable: .subscriptionIdentifierAvailable(bool())
        case .sharedSubscriptionAvailable: .sharedSubscriptionAvailable(bool())
        }
    }

    mutating func packet() -> Packet {
        var types = PacketType.allCases
        if version != .v5 { types.removeAll { $0 == .auth } }
        return packet(of: types.randomElement(using: &rng)!)
    }

    mutating func packet(of type: PacketType) -> Packet {
        let v5 = version == .v5
        switch type {
        case .connect:
            var will: LastWill?
            if bool() {
                will = LastWill(topic: topicName(), payload: bytes(), qos: qos(), retain: bool(),
                                properties: properties(.will))
            }
            let username = bool() ? string() : nil
            // 3.1.1 forbids a password without a user name [MQTT-3.1.2-22].
            let password = (username != nil || version != .v3_1_1) && bool() ? bytes() : nil
            return .connect(ConnectPacket(
                protocolVersion: version, cleanStart: bool(), keepAlive: UInt16.random(in: 0...UInt16.max, using: &rng),
                clientIdentifier: string(maxLength: 23), will: will, username: username, password: password,
                properties: properties(.connect)))
        case .connack:
            let codes: [ReasonCode] = [.success, .unsupportedProtocolVersion, .clientIdentifierNotValid,
                                       .serverUnavailable, .badUserNameOrPassword, .notAuthorized]
            let reasonCode = v5 ? reasonCode(for: .connack) : codes.randomElement(using: &rng)!
            return .connack(ConnAckPacket(sessionPresent: version != .v3_1 && bool(), reasonCode: reasonCode,
                                          properties: properties(.connack)))
        case .publish:
            let qos = qos()
            var properties = properties(.publish)
            var topic = topicName()
            if v5 && properties.topicAlias != nil && bool() { topic = "" }
            if !v5 || topic.isEmpty || bool() { } else { properties.topicAlias = nil }
            return .publish(PublishPacket(
                topic: topic, payload: bytes(maxLength: 200), qos: qos, retain: bool(),
                duplicate: qos != .atMostOnce && bool(), packetIdentifier: qos == .atMostOnce ? nil : packetIdentifier(),
                properties: properties))
        case .puback, .pubrec, .pubrel, .pubcomp:
            let ack = PublishAckPacket(
                packetIdentifier: packetIdentifier(), reasonCode: v5 ? reasonCode(for: type) : .success,
                properties: properties(PropertyScope(type)))
            switch type {
            case .puback: return .puback(ack)
            case .pubrec: return .pubrec(ack)
            case .pubrel: return .pubrel(ack)
            default: return .pubcomp(ack)
            }
        case .subscribe:
            let subscriptions = (0..<int(1...4)).map { _ in
                let options = v5
                    ? SubscriptionOptions(qos: qos(), noLocal: bool(), retainAsPublished: bool(),
                                          retainHandling: RetainHandling(rawValue: UInt8(int(0...2)))!)
                    : SubscriptionOptions(qos: qos())
                return Subscription(topicFilter: string().nonEmpty(or: "#"), options: options)
            }
            return .subscribe(SubscribePacket(packetIdentifier: packetIdentifier(), subscriptions: subscriptions,
                                              properties: properties(.subscribe)))
        case .suback:
            let codes = (0..<int(1...4)).map { _ in
                v5 ? reasonCode(for: .suback) : [ReasonCode.grantedQoS0, .grantedQoS1, .grantedQoS2,
                                                  .unspecifiedError].randomElement(using: &rng)!
            }
            return .suback(SubAckPacket(packetIdentifier: packetIdentifier(), reasonCodes: codes,
                                        properties: properties(.suback)))
        case .unsubscribe:
            let filters = (0..<int(1...4)).map { _ in string().nonEmpty(or: "+") }
            return .unsubscribe(UnsubscribePacket(packetIdentifier: packetIdentifier(), topicFilters: filters,
                                                  properties: properties(.unsubscribe)))
        case .unsuback:
            let codes = v5 ? (0..<int(1...4)).map { _ in reasonCode(for: .unsuback) } : []
            return .unsuback(UnsubAckPacket(packetIdentifier: packetIdentifier(), reasonCodes: codes,
                                            properties: properties(.unsuback)))
        case .pingreq: return .pingreq
        case .pingresp: return .pingresp
        case .disconnect:
            return .disconnect(DisconnectPacket(reasonCode: v5 ? reasonCode(for: .disconnect) : .normalDisconnection,
                                                properties: properties(.disconnect)))
        case .auth:
            return .auth(AuthPacket(reasonCode: reasonCode(for: .auth), properties: properties(.auth)))
        }
    }
}

/// Type-erases the generator's random source so that `RandomPacket` can hold it.
struct AnyRNG: RandomNumberGenerator {
    var base: any SeededRandomNumberGenerator
    init(_ base: any SeededRandomNumberGenerator) { self.base = base }
    mutating func next() -> UInt64 { base.next() }
}

extension String {
    func nonEmpty(or replacement: String) -> String { isEmpty ? replacement : self }
}
