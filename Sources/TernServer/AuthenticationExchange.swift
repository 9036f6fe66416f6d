import NIOCore
import TernBroker

/// One MQTT 5.0 enhanced authentication exchange (section 4.12) on one connection, for the method it was made
/// for: each piece of the client's Authentication Data goes in (from CONNECT or AUTH 0x19, then from each AUTH
/// 0x18), and the answer comes out: `.continueAuthentication` with a challenge, `.accepted` with the server's last
/// data, or `.refused`. Runs on the thread pool like `ConnectionAuthenticator.authenticate`.
public protocol AuthenticationExchange: Sendable {
    mutating func receive(_ data: ByteBuffer?) -> AuthenticationResult
    /// After `.refused`: why, for the log (never a secret).
    var refusal: String? { get }
}
