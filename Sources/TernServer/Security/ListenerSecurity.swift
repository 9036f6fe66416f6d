import TernBroker

/// The security files of a listener, read: who may connect (`allow_anonymous`, `password_file`) and what each
/// client may publish and receive (`acl_file`). Immutable; a reload reads the files again into a new value.
public struct ListenerSecurity: Sendable {
    /// Which part of a client's TLS certificate becomes its user name, in place of the CONNECT's.
    public enum CertificateUsername: Sendable, Equatable {
        /// The subject's Common Name (`use_identity_as_username`).
        case commonName
        /// The whole subject (`use_subject_as_username`).
        case subject
    }

    public let allowAnonymous: Bool
    public let passwordFile: PasswordFile?
    public let accessControlList: AccessControlList?
    /// When set, the client's certificate names the user and the password file is not consulted, as in Mosquitto.
    public let certificateUsername: CertificateUsername?

    public init(allowAnonymous: Bool, passwordFile: PasswordFile? = nil, accessControlList: AccessControlList? = nil,
                certificateUsername: CertificateUsername? = nil)
    {
        self.allowAnonymous = allowAnonymous
        self.passwordFile = passwordFile
        self.accessControlList = accessControlList
        self.certificateUsername = certificateUsername
    }

    /// Reads the password and ACL files the configuration names.
    ///
    /// - Parameter tls: the listener's TLS settings, for `use_identity_as_username` / `use_subject_as_username`.
    /// - Returns: the security, and the ACL file's warnings (valid lines that are probably mistakes) to log.
    /// - Throws: the first problem, naming the file and line; the broker must not start (or keep its previous
    ///   security on reload).
    public static func load(_ settings: BrokerConfiguration.Security, tls: BrokerConfiguration.TLS? = nil)
        throws(ListenerSecurityError) -> (security: ListenerSecurity, warnings: [String])
    {
        var passwordFile: PasswordFile?
        if let path = settings.passwordFile {
            do { passwordFile = try PasswordFile.load(path: path) } catch { throw .passwordFile(error) }
        }
        var accessControlList: AccessControlList?
        if let path = settings.aclFile {
            let bytes: [UInt8]
            do { bytes = try ConfigurationFiles.contents(of: path) } catch {
                throw .unreadableAccessControlList(path: path, reason: error.reason)
            }
            do {
                accessControlList = try AccessControlList(parsing: String(decoding: bytes, as: UTF8.self), path: path)
            } catch { throw .accessControlList(error) }
        }
        let certificateUsername: CertificateUsername? =
            tls?.useSubjectAsUsername == true ? .subject : tls?.useIdentityAsUsername == true ? .commonName : nil
        let security = ListenerSecurity(allowAnonymous: settings.allowAnonymous, passwordFile: passwordFile,
                                        accessControlList: accessControlList, certificateUsername: certificateUsername)
        return (security, accessControlList?.warnings.map(\.description) ?? [])
    }

    /// Mosquitto 2.0's decision for a CONNECT: a client without a user name needs `allow_anonymous true`; one
    /// with a user name needs the right password when there is a password file, and `allow_anonymous true` when
    /// there is none. Every refusal is 0x87 Not authorized (return code 5 for MQTT 3), as Mosquitto answers,
    /// whether the user is unknown or the password wrong.
    ///
    /// Verifying a password hashes it (slowly, by design): call this off the event loop.
    public func authenticate(username: String?, password: [UInt8]?) -> AuthenticationResult {
        authenticate(username: username, password: password, certificate: nil)
    }

    /// As `authenticate(username:password:)`, for a client that may have presented a TLS certificate. With
    /// `certificateUsername` set, the user name comes from the certificate and the CONNECT's user name and password
    /// are ignored; a client without a certificate, or whose certificate has no Common Name when that is the user
    /// name, is refused with 0x86 Bad User Name or Password (return code 4), as Mosquitto answers.
    public func authenticate(username: String?, password: [UInt8]?, certificate: ClientCertificateIdentity?)
        -> AuthenticationResult
    {
        if let decided = resultWithoutPassword(username: username, certificate: certificate) { return decided }
        guard let username, let passwordFile else { return .refused(.notAuthorized) }  // decided above
        return passwordFile.verify(username: username, password: password)
            ? .accepted(username: username, accessControl: accessControlList) : .refused(.notAuthorized)
    }

    /// The result of `authenticate` when it needs no password verified: a user named by a certificate, a client
    /// without a user name, a listener without a password file. Nil when the password file has to check a
    /// password. Cheap: the server calls it on the event loop, and goes to the thread pool only when it is nil.
    public func resultWithoutPassword(username: String?, certificate: ClientCertificateIdentity?)
        -> AuthenticationResult?
    {
        if let certificateUsername {
            let name = switch certificateUsername {
            case .commonName: certificate?.commonName
            case .subject: certificate?.subject
            }
            guard let name else { return .refused(.badUserNameOrPassword) }
            return .accepted(username: name, accessControl: accessControlList)
        }
        guard username == nil || passwordFile == nil else { return nil }
        return allowAnonymous
            ? .accepted(username: username, accessControl: accessControlList) : .refused(.notAuthorized)
    }

    /// After a reload, whether a client that authenticated earlier as `username` may stay connected: anonymous
    /// clients if still allowed, users still in the password file. (Tern keeps no password, so a changed password
    /// takes effect at the user's next connection.)
    public func reauthorize(username: String?) -> AuthenticationResult {
        let accepted = AuthenticationResult.accepted(username: username, accessControl: accessControlList)
        if certificateUsername != nil { return accepted }
        guard let username, let passwordFile else { return allowAnonymous ? accepted : .refused(.notAuthorized) }
        return passwordFile.contains(username: username) ? accepted : .refused(.notAuthorized)
    }
}

/// A security file that cannot be used, with the file and line.
public enum ListenerSecurityError: Error, Sendable, CustomStringConvertible {
    case passwordFile(PasswordFileError)
    case unreadableAccessControlList(path: String, reason: String)
    case accessControlList(AccessControlListError)

    public var description: String {
        switch self {
        case .passwordFile(let error): "\(error)"
        case .unreadableAccessControlList(let path, let reason): "\(path): cannot read the ACL file: \(reason)"
        case .accessControlList(let error): "\(error)"
        }
    }
}
