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
}

/// The server's answer to an `AuthenticationRequest`.
public enum AuthenticationResult: Sendable {
    /// The client may connect, as this user (nil for an anonymous client), with what the access control list
    /// lets it publish and receive (nil: everything but the reserved topics).
    case accepted(username: String?, accessControl: AccessControlList? = nil)
    /// The client is refused with this reason code in its CONNACK (0x86 Bad User Name or Password, 0x87 Not
    /// authorized, ...); for 3.1 and 3.1.1 the return code is derived from it.
    case refused(ReasonCode)
}
