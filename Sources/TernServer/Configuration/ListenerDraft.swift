import TernBroker

/// A listener while its file is being read: what the lines written so far set, nothing defaulted yet.
struct ListenerDraft: Sendable {
    /// The `listener` line that opened it (for the default listener, its `port` or `bind_address` line).
    var line: ConfigurationLine
    var port: Int
    var address: String?
    var socketDomain: BrokerConfiguration.Listener.SocketDomain?
    var transport: BrokerConfiguration.Listener.Transport = .mqtt
    var maxConnections: Int?
    var protocolLimits = ListenerProtocolLimits()
    var httpDirectory: String?
    var allowedOrigins: [String] = []
    var security = SecurityDraft()

    var certificateFile: String?
    var keyFile: String?
    var caFile: String?
    var caPath: String?
    var requireCertificate: Bool?
    var minimumTLSVersion: BrokerConfiguration.TLS.Version?
    var ciphers: String?
    var ciphersTLS13: String?
    var dhParametersFile: String?
    var useIdentityAsUsername: Bool?
    var useSubjectAsUsername: Bool?
    /// The TLS settings written for this listener, in order, for messages about what is missing.
    var tlsKeys: [String] = []

    init(line: ConfigurationLine, port: Int, address: String?) {
        self.line = line
        self.port = port
        self.address = address
    }

    /// The listener, with `security` as its security settings.
    /// - Throws: when TLS settings are given without the certificate and key that TLS needs, or a client
    ///   certificate is required with no CA to check it against (Mosquitto would quietly listen in plain text
    ///   or refuse every client).
    func resolved(security: BrokerConfiguration.Security) throws(ConfigurationDiagnostic) -> BrokerConfiguration.Listener {
        var tls: BrokerConfiguration.TLS?
        if !tlsKeys.isEmpty {
            guard let certificateFile, let keyFile else {
                if certificateFile == nil && keyFile == nil {
                    throw diagnostic("\(tlsKeys.joined(separator: ", ")) given, but TLS needs certfile and keyfile")
                }
                throw diagnostic("TLS needs both certfile and keyfile; \(certificateFile == nil ? "certfile" : "keyfile") "
                                 + "is missing")
            }
            if requireCertificate == true && caFile == nil && caPath == nil {
                throw diagnostic("require_certificate needs cafile or capath to check client certificates against")
            }
            tls = BrokerConfiguration.TLS(
                certificateFile: certificateFile, keyFile: keyFile, caFile: caFile, caPath: caPath,
                requireCertificate: requireCertificate ?? false, minimumVersion: minimumTLSVersion,
                ciphers: ciphers, ciphersTLS13: ciphersTLS13, dhParametersFile: dhParametersFile,
                useIdentityAsUsername: useIdentityAsUsername ?? false,
                useSubjectAsUsername: useSubjectAsUsername ?? false)
        }
        return BrokerConfiguration.Listener(
            port: port, address: address, socketDomain: socketDomain, transport: transport,
            maxConnections: maxConnections, protocolLimits: protocolLimits, tls: tls, httpDirectory: httpDirectory,
            allowedOrigins: allowedOrigins, security: security)
    }

    /// A diagnostic about the whole listener, at its `listener` line.
    func diagnostic(_ reason: String) -> ConfigurationDiagnostic {
        ConfigurationDiagnostic(file: line.file, line: line.number, message: "\(line.key) \(line.value): \(reason)")
    }
}
