extension BrokerConfiguration {
    /// Certificate-based TLS for one listener, as Mosquitto's listener settings describe it. Paths are absolute;
    /// the files are read when the listener starts, not when the configuration loads.
    public struct TLS: Sendable, Equatable {
        /// The lowest TLS version a client may use (`tls_version`); nil allows TLS 1.2 and 1.3, Mosquitto's default.
        public enum Version: String, Sendable, Equatable, CaseIterable {
            case tlsv1_1 = "tlsv1.1"
            case tlsv1_2 = "tlsv1.2"
            case tlsv1_3 = "tlsv1.3"
        }

        /// PEM server certificate, with its chain (`certfile`).
        public var certificateFile: String
        /// PEM private key of the certificate (`keyfile`).
        public var keyFile: String
        /// PEM file of the CA certificates trusted to sign client certificates (`cafile`).
        public var caFile: String?
        /// Directory of PEM CA certificates trusted to sign client certificates (`capath`).
        public var caPath: String?
        /// Whether a client must present a certificate signed by a trusted CA (`require_certificate`).
        public var requireCertificate: Bool
        public var minimumVersion: Version?
        /// OpenSSL cipher list for TLS 1.2 and earlier, colon-separated (`ciphers`).
        public var ciphers: String?
        /// Cipher suites for TLS 1.3, colon-separated (`ciphers_tls1.3`).
        public var ciphersTLS13: String?
        /// PEM Diffie-Hellman parameters (`dhparamfile`).
        public var dhParametersFile: String?
        /// Use the client certificate's Common Name as the user name (`use_identity_as_username`).
        public var useIdentityAsUsername: Bool
        /// Use the client certificate's whole subject as the user name (`use_subject_as_username`).
        public var useSubjectAsUsername: Bool

        public init(certificateFile: String, keyFile: String, caFile: String? = nil, caPath: String? = nil,
                    requireCertificate: Bool = false, minimumVersion: Version? = nil, ciphers: String? = nil,
                    ciphersTLS13: String? = nil, dhParametersFile: String? = nil,
                    useIdentityAsUsername: Bool = false, useSubjectAsUsername: Bool = false)
        {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.caFile = caFile
            self.caPath = caPath
            self.requireCertificate = requireCertificate
            self.minimumVersion = minimumVersion
            self.ciphers = ciphers
            self.ciphersTLS13 = ciphersTLS13
            self.dhParametersFile = dhParametersFile
            self.useIdentityAsUsername = useIdentityAsUsername
            self.useSubjectAsUsername = useSubjectAsUsername
        }
    }
}
