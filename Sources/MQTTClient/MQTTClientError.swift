import MQTTCore

/// Why a client operation failed. Every case maps to the MQTT 5.0 reason code that describes it best.
public enum MQTTClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The server answered CONNECT with a failure reason code (for 3.1.1, the return code mapped to one).
    case connectionRefused(ReasonCode, reasonString: String?)
    /// The server closed the session with DISCONNECT (MQTT 5.0).
    case disconnectedByServer(ReasonCode, reasonString: String?)
    /// The network connection ended (or could not be made); the text says how.
    case connectionClosed(String)
    /// The client is not connected (never connected, disconnected, or waiting to reconnect).
    case notConnected
    /// No CONNACK (or answer to a request) arrived in time.
    case timeout
    /// The server broke the protocol; the client closed the connection.
    case protocolError(ReasonCode, String)
    /// A packet would exceed the server's Maximum Packet Size, so it was not sent [MQTT-3.1.2-24].
    case packetTooLarge(size: Int, maximum: Int)
    /// The server refused a QoS 1 or 2 message with a failure reason code in PUBACK or PUBREC.
    case publishRejected(ReasonCode, reasonString: String?)
    /// The arguments cannot form a valid packet (a bad topic, a QoS the server does not support, ...).
    case invalidArgument(ReasonCode, String)
    /// Enhanced authentication failed on the client's side: the authenticator refused the server's data (for
    /// SCRAM, a server that could not prove it knows the password's keys) or could not start.
    case authenticationFailed(String)

    /// The MQTT 5.0 reason code this error stands for.
    public var reasonCode: ReasonCode {
        switch self {
        case .connectionRefused(let code, _), .disconnectedByServer(let code, _), .protocolError(let code, _),
            .invalidArgument(let code, _), .publishRejected(let code, _):
            code
        case .connectionClosed, .notConnected, .timeout: .unspecifiedError
        case .packetTooLarge: .packetTooLarge
        case .authenticationFailed: .notAuthorized
        }
    }

    public var description: String {
        switch self {
        case .connectionRefused(let code, let text):
            "connection refused: \(Self.phrase(code))" + (text.map { " (\($0))" } ?? "")
        case .disconnectedByServer(let code, let text):
            "disconnected by the server: \(Self.phrase(code))" + (text.map { " (\($0))" } ?? "")
        case .publishRejected(let code, let text):
            "publish refused: \(Self.phrase(code))" + (text.map { " (\($0))" } ?? "")
        case .connectionClosed(let how): "connection closed: \(how)"
        case .notConnected: "not connected"
        case .timeout: "timed out waiting for the server"
        case .protocolError(_, let text): "protocol error: \(text)"
        case .packetTooLarge(let size, let maximum):
            "packet too large: \(size) bytes, the server accepts at most \(maximum)"
        case .invalidArgument(_, let text): text
        case .authenticationFailed(let text): "authentication failed: \(text)"
        }
    }

    /// The reason code's name in lower case, as a phrase ("not authorized").
    static func phrase(_ code: ReasonCode) -> String {
        let text = code.description
        guard let space = text.firstIndex(of: " ") else { return text }
        return text[text.index(after: space)...].lowercased()
    }
}
