import TernBroker

/// Checks the credentials of a CONNECT for one listener. Runs on a thread pool, never on an event loop:
/// verifying a password hash is deliberately slow.
public protocol ConnectionAuthenticator: Sendable {
    func authenticate(_ request: AuthenticationRequest) -> AuthenticationResult
}
