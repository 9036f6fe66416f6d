/// Who a client proved to be with the certificate it presented in the TLS handshake (already verified against the
/// listener's trusted CAs), for listeners that take the user name from it.
public struct ClientCertificateIdentity: Sendable, Equatable {
    /// The subject's Common Name (`use_identity_as_username`); nil when the subject has none.
    public var commonName: String?
    /// The whole subject in RFC 2253 form, most specific part first, as Mosquitto's `use_subject_as_username` gives
    /// it: `CN=sensor-1,OU=Plant,O=Example,C=GB`.
    public var subject: String

    public init(commonName: String?, subject: String) {
        self.commonName = commonName
        self.subject = subject
    }
}
