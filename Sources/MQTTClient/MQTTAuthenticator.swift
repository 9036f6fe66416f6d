import MQTTCore
import NIOCore

/// The client's side of an MQTT 5.0 enhanced authentication method (section 4.12): the method's name, the data
/// sent with CONNECT (or with AUTH 0x19 to re-authenticate), the answers to the server's challenges (AUTH 0x18),
/// and the check of the server's last data (in CONNACK, or in AUTH 0x00 after re-authentication).
///
/// Each exchange works on a fresh copy of the value in the configuration, so one value serves every connection
/// and re-authentication. A thrown error ends the exchange: during CONNECT the connection closes, during
/// re-authentication the client disconnects; either way with ``MQTTClientError/authenticationFailed(_:)``.
public protocol MQTTAuthenticator: Sendable {
    /// The Authentication Method, e.g. `SCRAM-SHA-512`.
    var method: String { get }
    /// Starts an exchange: the Authentication Data for CONNECT or AUTH 0x19 (nil: none).
    mutating func start() throws -> ByteBuffer?
    /// Answers the server's Authentication Data from AUTH 0x18 with ours.
    mutating func respond(to challenge: ByteBuffer?) throws -> ByteBuffer?
    /// The exchange succeeded on the server's side: checks the Authentication Data of the successful CONNACK or
    /// AUTH 0x00.
    mutating func finish(_ data: ByteBuffer?) throws
}
