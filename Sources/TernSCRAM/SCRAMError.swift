/// Why a SCRAM exchange failed.
public enum SCRAMError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A message is not in the form RFC 5802 gives it (section 7); the text says what is wrong.
    case malformedMessage(String)
    /// The client asked for channel binding (`p=`), which this mechanism (without `-PLUS`) does not offer.
    case channelBindingNotSupported
    /// The client asked to act as another user (an authorization identity other than its own name).
    case authorizationIdentityNotSupported
    /// The nonce does not continue the exchange's nonce: a message from another exchange (a replay).
    case nonceMismatch
    /// The client's proof does not verify: wrong password, or no such user.
    case invalidProof
    /// The server's signature does not verify: the server does not know the password's keys.
    case serverSignatureMismatch
    /// The server ended the exchange with `e=`.
    case serverRejected(String)
    /// The server's iteration count is outside what the client accepts.
    case iterationCountOutOfRange(Int)
    /// A message arrived when the exchange expected none (or another one).
    case unexpectedMessage

    public var description: String {
        switch self {
        case .malformedMessage(let text): "malformed SCRAM message: \(text)"
        case .channelBindingNotSupported: "channel binding is not supported"
        case .authorizationIdentityNotSupported: "an authorization identity other than the user is not supported"
        case .nonceMismatch: "the nonce does not belong to this exchange"
        case .invalidProof: "the client proof does not verify"
        case .serverSignatureMismatch: "the server signature does not verify"
        case .serverRejected(let text): "the server rejected the exchange: \(text)"
        case .iterationCountOutOfRange(let count): "iteration count \(count) out of range"
        case .unexpectedMessage: "unexpected message in the exchange"
        }
    }
}
