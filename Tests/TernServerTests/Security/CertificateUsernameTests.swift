import MQTTCore
import Testing
import TernBroker
@testable import TernServer

/// `use_identity_as_username` / `use_subject_as_username`: the certificate names the user, as in Mosquitto.
@Suite struct CertificateUsernameTests {
    private let certificate = ClientCertificateIdentity(commonName: "sensor-1", subject: "CN=sensor-1,O=Example,C=GB")

    private func username(_ result: AuthenticationResult) -> String?? {
        guard case .accepted(let username, _, _) = result else { return .none }
        return .some(username)
    }

    private func reasonCode(_ result: AuthenticationResult) -> ReasonCode? {
        guard case .refused(let code) = result else { return nil }
        return code
    }

    @Test func theCommonNameOrTheSubjectIsTheUserNameWhateverTheConnectSays() {
        let byName = ListenerSecurity(allowAnonymous: false, certificateUsername: .commonName)
        #expect(username(byName.authenticate(username: "mallory", password: Array("x".utf8), certificate: certificate))
                == "sensor-1")
        let bySubject = ListenerSecurity(allowAnonymous: false, certificateUsername: .subject)
        #expect(username(bySubject.authenticate(username: nil, password: nil, certificate: certificate))
                == "CN=sensor-1,O=Example,C=GB")
    }

    @Test func noCertificateOrNoCommonNameIsABadUserNameOrPassword() {
        let byName = ListenerSecurity(allowAnonymous: true, certificateUsername: .commonName)
        #expect(reasonCode(byName.authenticate(username: "u", password: nil, certificate: nil))
                == .badUserNameOrPassword)
        let nameless = ClientCertificateIdentity(commonName: nil, subject: "O=Example")
        #expect(reasonCode(byName.authenticate(username: nil, password: nil, certificate: nameless))
                == .badUserNameOrPassword)
    }

    @Test func withoutTheSettingTheCertificateIsNotUsed() {
        let security = ListenerSecurity(allowAnonymous: false)
        #expect(reasonCode(security.authenticate(username: nil, password: nil, certificate: certificate))
                == .notAuthorized)
    }

    @Test func theSettingsComeFromTheListenersTLS() throws {
        let tls = BrokerConfiguration.TLS(certificateFile: "/c", keyFile: "/k", caFile: "/ca",
                                          requireCertificate: true, useSubjectAsUsername: true)
        let (security, _) = try ListenerSecurity.load(BrokerConfiguration.Security(allowAnonymous: false), tls: tls)
        #expect(security.certificateUsername == .subject)
        // A reload keeps a certificate user connected: there is no password file entry to look for.
        #expect(username(security.reauthorize(username: "CN=sensor-1")) == "CN=sensor-1")
    }
}
