/// Why a listener's TLS settings cannot be used; the broker does not start (or, on reload, keeps the certificates
/// it has).
public enum TLSSetupError: Error, Sendable, CustomStringConvertible {
    case unreadableFile(key: String, path: String, reason: String)
    case noCertificate(path: String, reason: String)
    /// The key file is encrypted: Mosquitto asks for the passphrase on its terminal, Tern cannot.
    case encryptedKey(path: String)
    case invalidKey(path: String, reason: String)
    /// `require_certificate true` or `use_identity_as_username` without `cafile` or `capath` to verify against.
    case noTrustedCertificateAuthority(setting: String)
    /// The certificates, key and settings do not make a working TLS context (a key that does not match the
    /// certificate, an unknown cipher in `ciphers`, ...).
    case rejected(reason: String)

    public var description: String {
        switch self {
        case .unreadableFile(let key, let path, let reason):
            "\(key) \(path): cannot read: \(reason)"
        case .noCertificate(let path, let reason):
            "certfile \(path): no PEM certificate in it (\(reason))"
        case .encryptedKey(let path):
            """
            keyfile \(path) is encrypted with a passphrase, and Tern cannot ask for one: decrypt it into a file \
            readable by the broker only, e.g. `openssl pkey -in \(path) -out server-plain.key`
            """
        case .invalidKey(let path, let reason):
            "keyfile \(path): not a PEM private key (\(reason))"
        case .noTrustedCertificateAuthority(let setting):
            "\(setting) needs cafile or capath: the CA certificates that client certificates are verified against"
        case .rejected(let reason):
            "the TLS settings do not work together: \(reason)"
        }
    }
}
