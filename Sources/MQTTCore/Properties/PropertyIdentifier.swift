/// The identifiers of the 27 MQTT 5.0 properties (section 2.2.2.2), with where each may appear.
public enum PropertyIdentifier: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case payloadFormatIndicator = 0x01
    case messageExpiryInterval = 0x02
    case contentType = 0x03
    case responseTopic = 0x08
    case correlationData = 0x09
    case subscriptionIdentifier = 0x0B
    case sessionExpiryInterval = 0x11
    case assignedClientIdentifier = 0x12
    case serverKeepAlive = 0x13
    case authenticationMethod = 0x15
    case authenticationData = 0x16
    case requestProblemInformation = 0x17
    case willDelayInterval = 0x18
    case requestResponseInformation = 0x19
    case responseInformation = 0x1A
    case serverReference = 0x1C
    case reasonString = 0x1F
    case receiveMaximum = 0x21
    case topicAliasMaximum = 0x22
    case topicAlias = 0x23
    case maximumQoS = 0x24
    case retainAvailable = 0x25
    case userProperty = 0x26
    case maximumPacketSize = 0x27
    case wildcardSubscriptionAvailable = 0x28
    case subscriptionIdentifierAvailable = 0x29
    case sharedSubscriptionAvailable = 0x2A

    /// The places this property may appear in, per the table of section 2.2.2.2.
    public var allowedScopes: PropertyScope {
        switch self {
        case .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData:
            [.publish, .will]
        case .subscriptionIdentifier: [.publish, .subscribe]
        case .sessionExpiryInterval: [.connect, .connack, .disconnect]
        case .assignedClientIdentifier, .serverKeepAlive, .responseInformation, .maximumQoS, .retainAvailable,
            .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable, .sharedSubscriptionAvailable:
            .connack
        case .authenticationMethod, .authenticationData: [.connect, .connack, .auth]
        case .requestProblemInformation, .requestResponseInformation: .connect
        case .willDelayInterval: .will
        case .serverReference: [.connack, .disconnect]
        case .reasonString:
            [.connack, .puback, .pubrec, .pubrel, .pubcomp, .suback, .unsuback, .disconnect, .auth]
        case .receiveMaximum, .topicAliasMaximum, .maximumPacketSize: [.connect, .connack]
        case .topicAlias: .publish
        case .userProperty: .all
        }
    }

    /// Whether the property may appear more than once in one packet: user properties anywhere, subscription
    /// identifiers in PUBLISH (one per matching subscription) but not in SUBSCRIBE.
    public func mayRepeat(in scope: PropertyScope) -> Bool {
        switch self {
        case .userProperty: true
        case .subscriptionIdentifier: scope == .publish
        default: false
        }
    }

    public var description: String {
        switch self {
        case .payloadFormatIndicator: "Payload Format Indicator"
        case .messageExpiryInterval: "Message Expiry Interval"
        case .contentType: "Content Type"
        case .responseTopic: "Response Topic"
        case .correlationData: "Correlation Data"
        case .subscriptionIdentifier: "Subscription Identifier"
        case .sessionExpiryInterval: "Session Expiry Interval"
        case .assignedClientIdentifier: "Assigned Client Identifier"
        case .serverKeepAlive: "Server Keep Alive"
        case .authenticationMethod: "Authentication Method"
        case .authenticationData: "Authentication Data"
        case .requestProblemInformation: "Request Problem Information"
        case .willDelayInterval: "Will Delay Interval"
        case .requestResponseInformation: "Request Response Information"
        case .responseInformation: "Response Information"
        case .serverReference: "Server Reference"
        case .reasonString: "Reason String"
        case .receiveMaximum: "Receive Maximum"
        case .topicAliasMaximum: "Topic Alias Maximum"
        case .topicAlias: "Topic Alias"
        case .maximumQoS: "Maximum QoS"
        case .retainAvailable: "Retain Available"
        case .userProperty: "User Property"
        case .maximumPacketSize: "Maximum Packet Size"
        case .wildcardSubscriptionAvailable: "Wildcard Subscription Available"
        case .subscriptionIdentifierAvailable: "Subscription Identifier Available"
        case .sharedSubscriptionAvailable: "Shared Subscription Available"
        }
    }
}

/// Where a property list sits: one of the packet types that carry properties, or the Will Properties of CONNECT.
public struct PropertyScope: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let connect = PropertyScope(rawValue: 1 << 0)
    public static let connack = PropertyScope(rawValue: 1 << 1)
    public static let publish = PropertyScope(rawValue: 1 << 2)
    public static let puback = PropertyScope(rawValue: 1 << 3)
    public static let pubrec = PropertyScope(rawValue: 1 << 4)
    public static let pubrel = PropertyScope(rawValue: 1 << 5)
    public static let pubcomp = PropertyScope(rawValue: 1 << 6)
    public static let subscribe = PropertyScope(rawValue: 1 << 7)
    public static let suback = PropertyScope(rawValue: 1 << 8)
    public static let unsubscribe = PropertyScope(rawValue: 1 << 9)
    public static let unsuback = PropertyScope(rawValue: 1 << 10)
    public static let disconnect = PropertyScope(rawValue: 1 << 11)
    public static let auth = PropertyScope(rawValue: 1 << 12)
    /// The Will Properties in the payload of CONNECT.
    public static let will = PropertyScope(rawValue: 1 << 13)
    public static let all = PropertyScope(rawValue: (1 << 14) - 1)

    /// The scope of the property list in a packet of the given type.
    public init(_ type: PacketType) {
        switch type {
        case .connect: self = .connect
        case .connack: self = .connack
        case .publish: self = .publish
        case .puback: self = .puback
        case .pubrec: self = .pubrec
        case .pubrel: self = .pubrel
        case .pubcomp: self = .pubcomp
        case .subscribe: self = .subscribe
        case .suback: self = .suback
        case .unsubscribe: self = .unsubscribe
        case .unsuback: self = .unsuback
        case .disconnect: self = .disconnect
        case .auth: self = .auth
        case .pingreq, .pingresp: self = []
        }
    }

    public var description: String {
        let names: [(PropertyScope, String)] = [
            (.connect, "CONNECT"), (.connack, "CONNACK"), (.publish, "PUBLISH"), (.puback, "PUBACK"),
            (.pubrec, "PUBREC"), (.pubrel, "PUBREL"), (.pubcomp, "PUBCOMP"), (.subscribe, "SUBSCRIBE"),
            (.suback, "SUBACK"), (.unsubscribe, "UNSUBSCRIBE"), (.unsuback, "UNSUBACK"),
            (.disconnect, "DISCONNECT"), (.auth, "AUTH"), (.will, "Will Properties"),
        ]
        return names.filter { contains($0.0) }.map(\.1).joined(separator: "|")
    }
}
