/// CONNACK: the server's answer to CONNECT (section 3.2).
public struct ConnAckPacket: Hashable, Sendable, CustomStringConvertible {
    public var sessionPresent: Bool
    /// The MQTT 5.0 reason code. For 3.1 and 3.1.1 the connect return code is derived from it when encoding
    /// (see `ReasonCode.connectReturnCode`) and mapped to it when decoding.
    public var reasonCode: ReasonCode
    public var properties: Properties

    public init(sessionPresent: Bool = false, reasonCode: ReasonCode = .success, properties: Properties = []) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }

    public var description: String {
        "sessionPresent=\(sessionPresent) \(reasonCode)" + (properties.isEmpty ? "" : " \(properties)")
    }
}

extension ReasonCode {
    /// The MQTT 3.1/3.1.1 CONNACK return code closest to this reason code (section 3.2.2.3 of 3.1.1).
    public var connectReturnCode: UInt8 {
        switch self {
        case .success: 0
        case .unsupportedProtocolVersion: 1
        case .clientIdentifierNotValid: 2
        case .badUserNameOrPassword, .badAuthenticationMethod: 4
        case .notAuthorized, .banned: 5
        default: 3  // Server unavailable
        }
    }

    /// The reason code that stands for an MQTT 3.1/3.1.1 CONNACK return code, or nil for an undefined one.
    public init?(connectReturnCode: UInt8) {
        switch connectReturnCode {
        case 0: self = .success
        case 1: self = .unsupportedProtocolVersion
        case 2: self = .clientIdentifierNotValid
        case 3: self = .serverUnavailable
        case 4: self = .badUserNameOrPassword
        case 5: self = .notAuthorized
        default: return nil
        }
    }
}
