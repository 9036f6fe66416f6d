/// UNSUBSCRIBE: one or more topic filters to remove (section 3.10).
public struct UnsubscribePacket: Hashable, Sendable, CustomStringConvertible {
    public var packetIdentifier: UInt16
    /// Never empty [MQTT-3.10.3-2].
    public var topicFilters: [String]
    public var properties: Properties

    public init(packetIdentifier: UInt16, topicFilters: [String], properties: Properties = []) {
        self.packetIdentifier = packetIdentifier
        self.topicFilters = topicFilters
        self.properties = properties
    }

    public var description: String {
        "id=\(packetIdentifier) \(topicFilters)" + (properties.isEmpty ? "" : " \(properties)")
    }
}
