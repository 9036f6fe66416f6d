import TernBroker

/// Checks the credentials of a CONNECT for one listener. Runs on a thread pool, never on an event loop:
/// verifying a password hash is deliberately slow.
public protocol ConnectionAuthenticator: Sendable {
    func authenticate(_ request: AuthenticationRequest) -> AuthenticationResult

    /// After the security files were reloaded: whether a client connected earlier as `username` may stay, and
    /// under which access control list. Called on the event loop, so it must not hash.
    func reauthorize(username: String?) -> AuthenticationResult
}

extension ConnectionAuthenticator {
    public func reauthorize(username: String?) -> AuthenticationResult {
        .accepted(username: username)
    }
}
