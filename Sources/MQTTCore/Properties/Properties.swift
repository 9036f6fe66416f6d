import NIOCore

/// The property list of an MQTT 5.0 packet, in wire order, with typed accessors.
///
/// Stored as an array so that the common case, no properties, costs no allocation. Setting a single-valued
/// accessor replaces the property in place (or appends it); setting it to `nil` removes it.
public struct Properties: Hashable, Sendable, RandomAccessCollection, ExpressibleByArrayLiteral,
    CustomStringConvertible
{
    public var elements: [Property]

    @inlinable
    public init() { elements = [] }

    @inlinable
    public init(_ elements: [Property]) { self.elements = elements }

    @inlinable
    public init(arrayLiteral elements: Property...) { self.elements = elements }

    @inlinable public var startIndex: Int { elements.startIndex }
    @inlinable public var endIndex: Int { elements.endIndex }
    @inlinable public subscript(position: Int) -> Property { elements[position] }

    @inlinable
    public mutating func append(_ property: Property) { elements.append(property) }

    /// Removes every property with the given identifier.
    @inlinable
    public mutating func removeAll(_ identifier: PropertyIdentifier) {
        elements.removeAll { $0.identifier == identifier }
    }

    public var description: String { "[" + elements.map { "\($0)" }.joined(separator: ", ") + "]" }

    @inlinable
    func first<T>(_ extract: (Property) -> T?) -> T? {
        for property in elements {
            if let value = extract(property) { return value }
        }
        return nil
    }

    @inlinable
    mutating func replace(_ identifier: PropertyIdentifier, with property: Property?) {
        let index = elements.firstIndex { $0.identifier == identifier }
        if index != nil { elements.removeAll { $0.identifier == identifier } }
        if let property { elements.insert(property, at: index ?? elements.endIndex) }
    }
}

// Typed accessors, one per property.
extension Properties {
    public var payloadFormatIndicator: PayloadFormat? {
        get { first { if case .payloadFormatIndicator(let v) = $0 { v } else { nil } } }
        set { replace(.payloadFormatIndicator, with: newValue.map { .payloadFormatIndicator($0) }) }
    }
    public var messageExpiryInterval: UInt32? {
        get { first { if case .messageExpiryInterval(let v) = $0 { v } else { nil } } }
        set { replace(.messageExpiryInterval, with: newValue.map { .messageExpiryInterval($0) }) }
    }
    public var contentType: String? {
        get { first { if case .contentType(let v) = $0 { v } else { nil } } }
        set { replace(.contentType, with: newValue.map { .contentType($0) }) }
    }
    public var responseTopic: String? {
        get { first { if case .responseTopic(let v) = $0 { v } else { nil } } }
        set { replace(.responseTopic, with: newValue.map { .responseTopic($0) }) }
    }
    public var correlationData: ByteBuffer? {
        get { first { if case .correlationData(let v) = $0 { v } else { nil } } }
        set { replace(.correlationData, with: newValue.map { .correlationData($0) }) }
    }
    /// All Subscription Identifiers, in order (several in a PUBLISH that matched several subscriptions).
    public var subscriptionIdentifiers: [UInt32] {
        get { elements.compactMap { if case .subscriptionIdentifier(let v) = $0 { v } else { nil } } }
        set {
            removeAll(.subscriptionIdentifier)
            elements.append(contentsOf: newValue.map { .subscriptionIdentifier($0) })
        }
    }
    public var sessionExpiryInterval: UInt32? {
        get { first { if case .sessionExpiryInterval(let v) = $0 { v } else { nil } } }
        set { replace(.sessionExpiryInterval, with: newValue.map { .sessionExpiryInterval($0) }) }
    }
    public var assignedClientIdentifier: String? {
        get { first { if case .assignedClientIdentifier(let v) = $0 { v } else { nil } } }
        set { replace(.assignedClientIdentifier, with: newValue.map { .assignedClientIdentifier($0) }) }
    }
    public var serverKeepAlive: UInt16? {
        get { first { if case .serverKeepAlive(let v) = $0 { v } else { nil } } }
        set { replace(.serverKeepAlive, with: newValue.map { .serverKeepAlive($0) }) }
    }
    public var authenticationMethod: String? {
        get { first { if case .authenticationMethod(let v) = $0 { v } else { nil } } }
        set { replace(.authenticationMethod, with: newValue.map { .authenticationMethod($0) }) }
    }
    public var authenticationData: ByteBuffer? {
        get { first { if case .authenticationData(let v) = $0 { v } else { nil } } }
        set { replace(.authenticationData, with: newValue.map { .authenticationData($0) }) }
    }
    public var requestProblemInformation: Bool? {
        get { first { if case .requestProblemInformation(let v) = $0 { v } else { nil } } }
        set { replace(.requestProblemInformation, with: newValue.map { .requestProblemInformation($0) }) }
    }
    public var willDelayInterval: UInt32? {
        get { first { if case .willDelayInterval(let v) = $0 { v } else { nil } } }
        set { replace(.willDelayInterval, with: newValue.map { .willDelayInterval($0) }) }
    }
    public var requestResponseInformation: Bool? {
        get { first { if case .requestResponseInformation(let v) = $0 { v } else { nil } } }
        set { replace(.requestResponseInformation, with: newValue.map { .requestResponseInformation($0) }) }
    }
    public var responseInformation: String? {
        get { first { if case .responseInformation(let v) = $0 { v } else { nil } } }
        set { replace(.responseInformation, with: newValue.map { .responseInformation($0) }) }
    }
    public var serverReference: String? {
        get { first { if case .serverReference(let v) = $0 { v } else { nil } } }
        set { replace(.serverReference, with: newValue.map { .serverReference($0) }) }
    }
    public var reasonString: String? {
        get { first { if case .reasonString(let v) = $0 { v } else { nil } } }
        set { replace(.reasonString, with: newValue.map { .reasonString($0) }) }
    }
    public var receiveMaximum: UInt16? {
        get { first { if case .receiveMaximum(let v) = $0 { v } else { nil } } }
        set { replace(.receiveMaximum, with: newValue.map { .receiveMaximum($0) }) }
    }
    public var topicAliasMaximum: UInt16? {
        get { first { if case .topicAliasMaximum(let v) = $0 { v } else { nil } } }
        set { replace(.topicAliasMaximum, with: newValue.map { .topicAliasMaximum($0) }) }
    }
    public var topicAlias: UInt16? {
        get { first { if case .topicAlias(let v) = $0 { v } else { nil } } }
        set { replace(.topicAlias, with: newValue.map { .topicAlias($0) }) }
    }
    public var maximumQoS: QoS? {
        get { first { if case .maximumQoS(let v) = $0 { v } else { nil } } }
        set { replace(.maximumQoS, with: newValue.map { .maximumQoS($0) }) }
    }
    public var retainAvailable: Bool? {
        get { first { if case .retainAvailable(let v) = $0 { v } else { nil } } }
        set { replace(.retainAvailable, with: newValue.map { .retainAvailable($0) }) }
    }
    /// All user properties, in order.
    public var userProperties: [UserProperty] {
        get { elements.compactMap { if case .userProperty(let v) = $0 { v } else { nil } } }
        set {
            removeAll(.userProperty)
            elements.append(contentsOf: newValue.map { .userProperty($0) })
        }
    }
    public var maximumPacketSize: UInt32? {
        get { first { if case .maximumPacketSize(let v) = $0 { v } else { nil } } }
        set { replace(.maximumPacketSize, with: newValue.map { .maximumPacketSize($0) }) }
    }
    public var wildcardSubscriptionAvailable: Bool? {
        get { first { if case .wildcardSubscriptionAvailable(let v) = $0 { v } else { nil } } }
        set { replace(.wildcardSubscriptionAvailable, with: newValue.map { .wildcardSubscriptionAvailable($0) }) }
    }
    public var subscriptionIdentifierAvailable: Bool? {
        get { first { if case .subscriptionIdentifierAvailable(let v) = $0 { v } else { nil } } }
        set {
            replace(.subscriptionIdentifierAvailable, with: newValue.map { .subscriptionIdentifierAvailable($0) })
        }
    }
    public var sharedSubscriptionAvailable: Bool? {
        get { first { if case .sharedSubscriptionAvailable(let v) = $0 { v } else { nil } } }
        set { replace(.sharedSubscriptionAvailable, with: newValue.map { .sharedSubscriptionAvailable($0) }) }
    }
}
