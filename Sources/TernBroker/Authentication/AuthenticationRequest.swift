import MQTTCore
import NIOCore

/// The credentials of a CONNECT, for the server to check off the event loop (hashing passwords is slow by design).
public struct AuthenticationRequest: Sendable {
    public let connection: ConnectionID
    public let protocolVersion: ProtocolVersion
    /// As the client sent it; may be empty.
    public let clientIdentifier: String
    public let username: String?
    public let password: ByteBuffer?
    /// The verified certificate the client presented over TLS; nil on a plain connection or without a certificate.
    /// The server fills it in, the broker core never sees one.
    public var clientCertificate: ClientCertificateIdentity? = nil
    /// MQTT 5.0 enhanced authentication (section 4.12): the method named in CONNECT; nil for a plain CONNECT.
    public var authenticationMethod: String? = nil
    /// The Authentication Data of the CONNECT or AUTH packet this request is for.
    public var authenticationData: ByteBuffer? = nil
    /// Where an enhanced authentication exchange is.
    public var stage: Stage = .connect

    /// The packet that asks for this step of the exchange.
    public enum Stage: Sendable, Hashable {
        /// CONNECT: a new exchange (or a plain user name and password check).
        case connect
        /// AUTH 0x18 (Continue authentication): the client's answer to the server's last challenge.
        case continuation
        /// AUTH 0x19 (Re-authenticate) on a connected client: a new exchange on the same connection.
        case reauthentication
    }
}

/// The server's answer to an `AuthenticationRequest`.
public enum AuthenticationResult: Sendable {
    /// The client may connect, as this user (nil for an anonymous client), with what the access control list
    /// lets it publish and receive (nil: everything but the reserved topics).
    /// With enhanced authentication, `authenticationData` is the server's last data for the client (sent in
    /// CONNACK, or in AUTH 0x00 after re-authentication).
    case accepted(username: String?, accessControl: AccessControlList? = nil, authenticationData: ByteBuffer? = nil)
    /// Enhanced authentication goes on: send AUTH 0x18 with this data and wait for the client's answer.
    case continueAuthentication(ByteBuffer?)
    /// The client is refused with this reason code in its CONNACK (0x86 Bad User Name or Password, 0x87 Not
    /// authorized, ...); for 3.1 and 3.1.1 the return code is derived from it.
    case refused(ReasonCode)
}
