import MQTTCore
import NIOCore
import Testing
@testable import TernBroker
@testable import TernServer

/// `ListenerSecurity.resultWithoutPassword`, which the server calls on the event loop: it decides exactly the
/// CONNECTs that need no password verified, and decides them as `authenticate` does.
@Suite struct ListenerSecurityDecisionTests {
    private static let passwordFile: PasswordFile = {
        let line = "alice:" + PasswordFile.hash(password: "secret", iterations: 1) + "\n"
        return try! PasswordFile(contents: Array(line.utf8), path: "passwd")
    }()

    /// What a client sees of a result: refused with which code, or accepted as which user.
    private func outcome(_ result: AuthenticationResult?) -> String? {
        switch result {
        case nil: nil
        case .accepted(let username, _, _)?: "accepted as \(username ?? "anonymous")"
        case .refused(let code)?: "refused \(code)"
        case .continueAuthentication?: "continue"
        }
    }

    @Test(arguments: [false, true], [false, true])
    func decidesWithoutAPasswordExactlyWhenNoneIsToBeVerified(allowAnonymous: Bool, withPasswordFile: Bool) {
        let certificate = ClientCertificateIdentity(commonName: "sensor-1", subject: "CN=sensor-1")
        let securities = [nil, ListenerSecurity.CertificateUsername.commonName].map {
            ListenerSecurity(allowAnonymous: allowAnonymous, passwordFile: withPasswordFile ? Self.passwordFile : nil,
                             certificateUsername: $0)
        }
        let clients: [(username: String?, password: [UInt8]?)] = [
            (nil, nil), ("alice", Array("secret".utf8)), ("alice", Array("wrong".utf8)), ("bob", nil),
        ]
        for security in securities {
            for client in clients {
                let early = security.resultWithoutPassword(username: client.username, certificate: certificate)
                let verifies = security.certificateUsername == nil && client.username != nil && withPasswordFile
                #expect((early == nil) == verifies)
                let full = security.authenticate(username: client.username, password: client.password,
                                                 certificate: certificate)
                if early != nil { #expect(outcome(early) == outcome(full)) }
            }
        }
    }

    @Test func theListenersAuthenticatorAnswersAnonymousClientsWithoutTheThreadPool() {
        let open = ListenerAuthenticator(ListenerSecurity(allowAnonymous: true, passwordFile: Self.passwordFile))
        let anonymous = AuthenticationRequest(connection: ConnectionID(1), protocolVersion: .v5,
                                              clientIdentifier: "c", username: nil, password: nil)
        #expect(outcome(open.authenticateWithoutHashing(anonymous)) == "accepted as anonymous")
        let named = AuthenticationRequest(connection: ConnectionID(2), protocolVersion: .v5, clientIdentifier: "d",
                                          username: "alice", password: ByteBuffer(string: "secret"))
        #expect(open.authenticateWithoutHashing(named) == nil)
        let closed = ListenerAuthenticator(ListenerSecurity(allowAnonymous: false))
        #expect(outcome(closed.authenticateWithoutHashing(anonymous)) == "refused \(ReasonCode.notAuthorized)")
    }
}
