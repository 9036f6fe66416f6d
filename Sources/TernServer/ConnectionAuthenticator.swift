import TernBroker

/// Checks the credentials of a CONNECT for one listener. `authenticate` runs on a thread pool, never on an event
/// loop: verifying a password hash is deliberately slow.
public protocol ConnectionAuthenticator: Sendable {
    func authenticate(_ request: AuthenticationRequest) -> AuthenticationResult

    /// The result of `authenticate` when reaching it verifies no password (an anonymous client, a certificate's
    /// user, no password file), or nil. Called on the event loop, so it must not hash; the server answers such a
    /// CONNECT there, without the thread pool's two thread wake-ups.
    func authenticateWithoutHashing(_ request: AuthenticationRequest) -> AuthenticationResult?

    /// After the security files were reloaded: whether a client connected earlier as `username` may stay, and
    /// under which access control list. Called on the event loop, so it must not hash.
    func reauthorize(username: String?) -> AuthenticationResult

    /// Starts an enhanced authentication exchange for the request's Authentication Method (its CONNECT, or its
    /// AUTH 0x19 when re-authenticating); nil when the listener does not offer the method (0x8C Bad
    /// authentication method).
    func makeExchange(for request: AuthenticationRequest) -> (any AuthenticationExchange)?
}

extension ConnectionAuthenticator {
    public func authenticateWithoutHashing(_ request: AuthenticationRequest) -> AuthenticationResult? {
        nil
    }

    public func makeExchange(for request: AuthenticationRequest) -> (any AuthenticationExchange)? {
        nil
    }

    public func reauthorize(username: String?) -> AuthenticationResult {
        .accepted(username: username)
    }
}
