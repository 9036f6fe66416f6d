import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TernServer

/// Who may use the HTTP listener: users of the password file named by `http_admin_users` and
/// `http_readonly_users` (HTTP basic authentication), bearer tokens (`http_admin_token`, `http_readonly_token`),
/// or everyone as admin on a loopback listener when nothing is configured (a developer's laptop).
public struct AdminAccessPolicy: Sendable {
    public let adminUsers: Set<String>
    public let readOnlyUsers: Set<String>
    public let adminToken: String?
    public let readOnlyToken: String?
    public let passwordFile: PasswordFile?
    /// Every request is admin: loopback listener, no credentials and no password file configured.
    public let isOpen: Bool
    /// Whether `/metrics` and `/health` want credentials too.
    public let protectsMetrics: Bool
    /// Verified basic credentials, by user and password digest, so that PBKDF2 runs once per login, not per
    /// request of a polling dashboard. Cleared on reload with the policy itself.
    private let verified = NIOLockedValueBox<Set<String>>([])

    /// Why the HTTP listener may not start as configured.
    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    /// The policy for `settings`, with the password file already read. Throws a `Refusal` with a message for
    /// people when a listener that is not on loopback has no way to log in.
    public init(settings: BrokerConfiguration.HTTPSettings, passwordFile: PasswordFile?) throws(Refusal) {
        adminUsers = Set(settings.adminUsers)
        readOnlyUsers = Set(settings.readOnlyUsers)
        adminToken = settings.adminToken
        readOnlyToken = settings.readOnlyToken
        self.passwordFile = passwordFile
        protectsMetrics = settings.protectMetrics
        if settings.hasCredentials {
            isOpen = false
        } else if settings.isLoopback && settings.passwordFile == nil {
            isOpen = true
        } else {
            let address = settings.address ?? "every interface"
            throw Refusal(description: """
                http_listener \(settings.port) on \(address) has no credentials configured: set http_admin_users \
                (users of the password file) or http_admin_token, or bind it to 127.0.0.1 for an open listener \
                without a password file
                """)
        }
    }

    /// The role the `Authorization` header grants, or nil when it grants none. Password checks run on
    /// `threadPool`, never on the caller's event loop.
    public func role(authorization: String?, threadPool: NIOThreadPool) async -> AdminRole? {
        if isOpen { return .admin }
        guard let authorization else { return nil }
        if authorization.hasPrefix("Bearer ") {
            let token = String(authorization.dropFirst(7))
            if let adminToken, Self.constantTimeEqual(token, adminToken) { return .admin }
            if let readOnlyToken, Self.constantTimeEqual(token, readOnlyToken) { return .readOnly }
            return nil
        }
        guard authorization.hasPrefix("Basic "),
              let decoded = Data(base64Encoded: String(authorization.dropFirst(6))),
              let text = String(data: decoded, encoding: .utf8),
              let colon = text.firstIndex(of: ":")
        else { return nil }
        let user = String(text[..<colon])
        let password = String(text[text.index(after: colon)...])
        let role: AdminRole? = adminUsers.contains(user) ? .admin : readOnlyUsers.contains(user) ? .readOnly : nil
        guard let passwordFile else { return nil }
        let key = user + "\u{0}" + SHA256.hash(data: Array(password.utf8)).map { String($0, radix: 16) }.joined()
        if let role, verified.withLockedValue({ $0.contains(key) }) { return role }
        // Checked even for a name that is no HTTP user, so that the answer takes as long as a wrong password.
        let matches = try? await threadPool.runIfActive { passwordFile.verify(username: user, password: password) }
        guard let role, matches == true else { return nil }
        verified.withLockedValue { _ = $0.insert(key) }
        return role
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}
