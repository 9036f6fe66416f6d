import Foundation
import Testing

@testable import TernSCRAM

/// RFC 7677's example exchange (user "user", password "pencil", the same nonces, salt and iteration count) with
/// SHA-512 in place of SHA-256; the expected messages were computed with Python's hashlib and hmac.
@Suite struct SCRAMExchangeTests {
    static let clientNonce = "rOprNGfwEbeRWgbNEkqO"
    static let serverNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    static let salt = Array(Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")!)
    static let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    static let clientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ=="
    static let serverFinal = "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw=="
    static let credentials = SCRAMCredentials(password: "pencil", salt: salt, iterations: 4096)

    func server() -> SCRAMServerExchange {
        SCRAMServerExchange(nonce: Self.serverNonce, decoyKey: Array("decoy".utf8))
    }

    func lookUp(_ name: String) -> SCRAMCredentials? { name == "user" ? Self.credentials : nil }

    @Test func clientProducesTheVectorMessages() throws {
        var client = SCRAMClientExchange(username: "user", password: "pencil", nonce: Self.clientNonce)
        #expect(String(decoding: client.clientFirstMessage, as: UTF8.self) == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let final = try client.respond(toServerFirst: Array(Self.serverFirst.utf8))
        #expect(String(decoding: final, as: UTF8.self) == Self.clientFinal)
        try client.verify(serverFinal: Array(Self.serverFinal.utf8))
    }

    @Test func serverProducesTheVectorMessages() {
        var server = server()
        #expect(server.receive(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8), credentials: lookUp)
            == .challenge(Array(Self.serverFirst.utf8)))
        #expect(server.receive(Array(Self.clientFinal.utf8), credentials: lookUp)
            == .authenticated(username: "user", serverFinal: Array(Self.serverFinal.utf8)))
    }

    @Test func clientAndServerAgreeWithRandomNonces() throws {
        var client = SCRAMClientExchange(username: "a,b=c", password: "pä ss")
        var server = SCRAMServerExchange(decoyKey: [1, 2, 3])
        let stored = SCRAMCredentials(password: "pä ss", salt: Array(repeating: 7, count: 12), iterations: 101)
        guard case .challenge(let first) = server.receive(client.clientFirstMessage, credentials: { name in
            name == "a,b=c" ? stored : nil
        }) else { Issue.record("no challenge"); return }
        let final = try client.respond(toServerFirst: first)
        guard case .authenticated(let name, let serverFinal) = server.receive(final, credentials: { _ in nil }) else {
            Issue.record("not authenticated"); return
        }
        #expect(name == "a,b=c")
        try client.verify(serverFinal: serverFinal)
    }

    @Test func wrongPasswordFailsAtTheProof() throws {
        var client = SCRAMClientExchange(username: "user", password: "pen", nonce: Self.clientNonce)
        var server = server()
        guard case .challenge(let first) = server.receive(client.clientFirstMessage, credentials: lookUp) else {
            Issue.record("no challenge"); return
        }
        let final = try client.respond(toServerFirst: first)
        #expect(server.receive(final, credentials: lookUp) == .failed(.invalidProof, username: "user"))
    }

    @Test func unknownUserGetsAStableChallengeAndFailsAtTheProof() throws {
        var first = server()
        var second = server()
        let message = Array("n,,n=nobody,r=abc".utf8)
        let challenge = first.receive(message, credentials: lookUp)
        #expect(challenge == second.receive(message, credentials: lookUp))
        guard case .challenge(let serverFirst) = challenge else { Issue.record("no challenge"); return }
        #expect(String(decoding: serverFirst, as: UTF8.self).hasSuffix(",i=101"))
        var client = SCRAMClientExchange(username: "nobody", password: "x", nonce: "abc")
        _ = client.clientFirstMessage
        let final = try client.respond(toServerFirst: serverFirst)
        #expect(first.receive(final, credentials: lookUp) == .failed(.invalidProof, username: "nobody"))
    }

    @Test func replayedClientFinalFromAnotherExchangeIsRefused() {
        // The vector's client-final message replayed to a server that issued another nonce.
        var server = SCRAMServerExchange(nonce: "another-server-nonce", decoyKey: [])
        _ = server.receive(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8), credentials: lookUp)
        #expect(server.receive(Array(Self.clientFinal.utf8), credentials: lookUp)
            == .failed(.nonceMismatch, username: "user"))
    }

    @Test func serverSignatureFromAnImpostorIsRefused() throws {
        var client = SCRAMClientExchange(username: "user", password: "pencil", nonce: Self.clientNonce)
        _ = try client.respond(toServerFirst: Array(Self.serverFirst.utf8))
        #expect(throws: SCRAMError.serverSignatureMismatch) {
            try client.verify(serverFinal: Array("v=AAAA".utf8))
        }
    }

    @Test func clientRefusesAChallengeForAnotherNonce() {
        var client = SCRAMClientExchange(username: "user", password: "pencil", nonce: "mine")
        #expect(throws: SCRAMError.nonceMismatch) {
            _ = try client.respond(toServerFirst: Array("r=theirs123,s=AAAA,i=4096".utf8))
        }
        var other = SCRAMClientExchange(username: "user", password: "pencil", nonce: "mine")
        #expect(throws: SCRAMError.serverRejected("other-error")) {
            _ = try other.respond(toServerFirst: Array("e=other-error".utf8))
        }
    }

    @Test(arguments: [
        "", "n", "n,,", "x,,n=user,r=abc", "n,,r=abc,n=user", "n,,n=,r=abc", "n,,n=user", "n,,n=us=41er,r=abc",
        "n,,m=ext,n=user,r=abc", "n,,n=user,r=a,bc", "\u{FF}",
    ])
    func malformedClientFirstMessagesAreRefused(_ text: String) {
        var server = server()
        guard case .failed(.malformedMessage, nil) = server.receive(Array(text.utf8), credentials: lookUp) else {
            Issue.record("accepted \(text)"); return
        }
    }

    @Test func channelBindingAndOtherIdentitiesAreRefused() {
        var binding = server()
        #expect(binding.receive(Array("p=tls-unique,,n=user,r=abc".utf8), credentials: lookUp)
            == .failed(.channelBindingNotSupported, username: nil))
        var other = server()
        #expect(other.receive(Array("n,a=admin,n=user,r=abc".utf8), credentials: lookUp)
            == .failed(.authorizationIdentityNotSupported, username: nil))
        var same = server()
        guard case .challenge = same.receive(Array("n,a=user,n=user,r=abc".utf8), credentials: lookUp) else {
            Issue.record("own identity refused"); return
        }
    }

    @Test func malformedClientFinalMessagesAreRefused() {
        for text in ["", "c=biws", "c=biws,r=x", "c=cD10bHMtdW5pcXVl,r=\(Self.clientNonce)\(Self.serverNonce),p=AAAA",
                     "c=biws,r=\(Self.clientNonce)\(Self.serverNonce),p=!!"] {
            var server = server()
            _ = server.receive(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8), credentials: lookUp)
            guard case .failed(_, "user") = server.receive(Array(text.utf8), credentials: lookUp) else {
                Issue.record("accepted \(text)"); continue
            }
            // Nothing more after a failure.
            #expect(server.receive(Array(Self.clientFinal.utf8), credentials: lookUp)
                == .failed(.unexpectedMessage, username: nil))
        }
    }

    @Test func credentialsFromASaltedPasswordMatchThoseFromThePassword() {
        let salted = SCRAMCredentials.saltedPassword(password: "pencil", salt: Self.salt, iterations: 4096)
        #expect(SCRAMCredentials(saltedPassword: salted, salt: Self.salt, iterations: 4096) == Self.credentials)
    }
}
