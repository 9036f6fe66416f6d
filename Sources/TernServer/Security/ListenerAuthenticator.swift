import NIOConcurrencyHelpers
import TernBroker

/// The authenticator of one listener: checks each CONNECT against the listener's current `ListenerSecurity`,
/// which a reload replaces without disturbing connected clients.
public final class ListenerAuthenticator: ConnectionAuthenticator {
    private let current: NIOLockedValueBox<ListenerSecurity>

    public init(_ security: ListenerSecurity) {
        current = NIOLockedValueBox(security)
    }

    /// The security in force.
    public var security: ListenerSecurity {
        get { current.withLockedValue { $0 } }
        set { current.withLockedValue { $0 = newValue } }
    }

    public func authenticate(_ request: AuthenticationRequest) -> AuthenticationResult {
        security.authenticate(username: request.username, password: request.password.map { Array($0.readableBytesView) },
                              certificate: request.clientCertificate)
    }

    public func authenticateWithoutHashing(_ request: AuthenticationRequest) -> AuthenticationResult? {
        security.resultWithoutPassword(username: request.username, certificate: request.clientCertificate)
    }

    public func reauthorize(username: String?) -> AuthenticationResult {
        security.reauthorize(username: username)
    }

    /// `SCRAM-SHA-512` for the users of the listener's password file (not when certificates name the users).
    public func makeExchange(for request: AuthenticationRequest) -> (any AuthenticationExchange)? {
        let security = self.security
        guard request.authenticationMethod == SCRAMAuthenticationExchange.method, security.certificateUsername == nil,
            let passwordFile = security.passwordFile
        else { return nil }
        return SCRAMAuthenticationExchange(
            passwordFile: passwordFile, accessControlList: security.accessControlList,
            connectUsername: request.stage == .connect ? request.username : nil)
    }
}
