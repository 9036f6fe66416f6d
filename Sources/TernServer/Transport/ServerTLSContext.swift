import NIOConcurrencyHelpers
import NIOSSL

/// The TLS context of one listener: what each new connection's TLS handler is made from. A reload swaps in a
/// context made from the files as they are now; connections already open keep the one they started with.
public final class ServerTLSContext: Sendable {
    private let current: NIOLockedValueBox<NIOSSLContext>

    /// Reads the certificate, key and CA files.
    /// - Returns: the context and warnings about settings that parse but have no effect here.
    public static func load(_ settings: BrokerConfiguration.TLS)
        throws(TLSSetupError) -> (context: ServerTLSContext, warnings: [String])
    {
        let (context, warnings) = try makeContext(settings)
        return (ServerTLSContext(context), warnings)
    }

    private init(_ context: NIOSSLContext) {
        current = NIOLockedValueBox(context)
    }

    /// The context for a connection accepted now.
    var context: NIOSSLContext { current.withLockedValue { $0 } }

    /// Reads the files again (renewed certificates); new connections use them. On error nothing changes.
    public func reload(_ settings: BrokerConfiguration.TLS) throws(TLSSetupError) -> [String] {
        let (context, warnings) = try Self.makeContext(settings)
        current.withLockedValue { $0 = context }
        return warnings
    }

    static func makeContext(_ settings: BrokerConfiguration.TLS)
        throws(TLSSetupError) -> (NIOSSLContext, [String])
    {
        var warnings: [String] = []
        let chain: [NIOSSLCertificate]
        let certificateBytes = try contents(of: settings.certificateFile, key: "certfile")
        do { chain = try NIOSSLCertificate.fromPEMBytes(certificateBytes) } catch {
            throw .noCertificate(path: settings.certificateFile, reason: "\(error)")
        }
        guard !chain.isEmpty else { throw .noCertificate(path: settings.certificateFile, reason: "empty") }

        let keyBytes = try contents(of: settings.keyFile, key: "keyfile")
        let askedForPassphrase = NIOLockedValueBox(false)
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem) { (setter: NIOSSLPassphraseSetter<[UInt8]>) in
                askedForPassphrase.withLockedValue { $0 = true }
                setter([])
            }
        } catch {
            if askedForPassphrase.withLockedValue({ $0 }) { throw .encryptedKey(path: settings.keyFile) }
            throw .invalidKey(path: settings.keyFile, reason: "\(error)")
        }

        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = switch settings.minimumVersion {
        case .tlsv1_1: .tlsv11
        case .tlsv1_3: .tlsv13
        case .tlsv1_2, nil: .tlsv12
        }
        if let ciphers = settings.ciphers { configuration.cipherSuites = ciphers }
        if settings.ciphersTLS13 != nil {
            warnings.append("ciphers_tls1.3 is ignored: the TLS library Tern uses (BoringSSL) offers every TLS 1.3 "
                            + "cipher suite and cannot restrict them")
        }
        if settings.dhParametersFile != nil {
            warnings.append("dhparamfile is ignored: Tern's TLS library uses elliptic-curve key exchange only")
        }
        if let caFile = settings.caFile {
            _ = try contents(of: caFile, key: "cafile")
            configuration.trustRoots = .file(caFile)
            if let caPath = settings.caPath { configuration.additionalTrustRoots = [.file(caPath)] }
        } else if let caPath = settings.caPath {
            configuration.trustRoots = .file(caPath)
        }
        if settings.requireCertificate {
            guard settings.caFile != nil || settings.caPath != nil else {
                throw .noTrustedCertificateAuthority(setting: "require_certificate")
            }
            configuration.certificateVerification = .noHostnameVerification
        } else if settings.useIdentityAsUsername || settings.useSubjectAsUsername {
            // A certificate is asked for and verified when presented; a client without one is refused at CONNECT.
            guard settings.caFile != nil || settings.caPath != nil else {
                throw .noTrustedCertificateAuthority(
                    setting: settings.useIdentityAsUsername ? "use_identity_as_username" : "use_subject_as_username")
            }
            configuration.certificateVerification = .optionalVerification
        }
        do {
            return (try NIOSSLContext(configuration: configuration), warnings)
        } catch {
            throw .rejected(reason: "\(error)")
        }
    }

    private static func contents(of path: String, key: String) throws(TLSSetupError) -> [UInt8] {
        do { return try ConfigurationFiles.contents(of: path) } catch {
            throw .unreadableFile(key: key, path: path, reason: error.reason)
        }
    }
}
