/// AUTH: a step of MQTT 5.0 enhanced authentication (section 3.15).
public struct AuthPacket: Hashable, Sendable, CustomStringConvertible {
    /// `success`, `continueAuthentication` or `reAuthenticate`.
    public var reasonCode: ReasonCode
    /// Authentication Method, Authentication Data, Reason String, user properties.
    public var properties: Properties

    public init(reasonCode: ReasonCode = .success, properties: Properties = []) {
        self.reasonCode = reasonCode
        self.properties = properties
    }

    public var description: String { "\(reasonCode)" + (properties.isEmpty ? "" : " \(properties)") }
}
