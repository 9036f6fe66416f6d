import Foundation
import Testing

@testable import TernServer

@Suite struct PasswordHashTests {
    @Test(arguments: MosquittoPasswdVectors.all)
    func mosquittoPasswdHashesParseAndReencodeUnchanged(_ vector: MosquittoPasswdVectors.Vector) throws {
        let hash = try PasswordHash(encoded: vector.field)
        #expect(hash.encoded == vector.field)
    }

    @Test(arguments: MosquittoPasswdVectors.all)
    func mosquittoPasswdHashesMatchTheirPassword(_ vector: MosquittoPasswdVectors.Vector) throws {
        let hash = try PasswordHash(encoded: vector.field)
        #expect(hash.matches(Array(vector.password.utf8)))
        #expect(!hash.matches(Array((vector.password + "x").utf8)))
        #expect(!hash.matches(Array("wrong".utf8)))
    }

    @Test(arguments: MosquittoPasswdVectors.all)
    func makeWithTheSameSaltReproducesMosquittoPasswd(_ vector: MosquittoPasswdVectors.Vector) throws {
        let parsed = try PasswordHash(encoded: vector.field)
        let remade: PasswordHash
        switch parsed {
        case .sha512(let salt, _):
            remade = PasswordHash.make(password: Array(vector.password.utf8), algorithm: .sha512, iterations: 1,
                                       salt: salt)
        case .sha512PBKDF2(let iterations, let salt, _):
            remade = PasswordHash.make(password: Array(vector.password.utf8), algorithm: .sha512PBKDF2,
                                       iterations: iterations, salt: salt)
        }
        #expect(remade == parsed)
        #expect(remade.encoded == vector.field)
    }

    @Test func parsedFields() throws {
        let alice = try PasswordHash(encoded: MosquittoPasswdVectors.all[0].field)
        guard case .sha512PBKDF2(let iterations, let salt, let hash) = alice else {
            Issue.record("expected $7$, got \(alice)")
            return
        }
        #expect(iterations == 101)
        #expect(salt.count == 12)
        #expect(hash.count == 64)
        #expect(alice.algorithm == .sha512PBKDF2)
        let frank = try PasswordHash(encoded: MosquittoPasswdVectors.all[5].field)
        #expect(frank.algorithm == .sha512)
    }

    @Test func freshHashesHaveMosquittosShapeAndRandomSalts() throws {
        let first = PasswordHash.make(password: Array("secret".utf8))
        let second = PasswordHash.make(password: Array("secret".utf8))
        let pattern = /^\$7\$101\$[A-Za-z0-9+\/]{16}\$[A-Za-z0-9+\/]{86}==$/
        #expect(first.encoded.wholeMatch(of: pattern) != nil, "\(first.encoded)")
        #expect(first != second, "two hashes of one password must differ by their salt")
        #expect(first.matches(Array("secret".utf8)))
        #expect(second.matches(Array("secret".utf8)))
        #expect(try PasswordHash(encoded: first.encoded) == first)

        let legacy = PasswordHash.make(password: Array("secret".utf8), algorithm: .sha512)
        #expect(legacy.encoded.wholeMatch(of: /^\$6\$[A-Za-z0-9+\/]{16}\$[A-Za-z0-9+\/]{86}==$/) != nil)
        #expect(legacy.matches(Array("secret".utf8)))

        let slow = PasswordHash.make(password: Array("secret".utf8), iterations: 2_000)
        #expect(slow.encoded.hasPrefix("$7$2000$"))
        #expect(slow.matches(Array("secret".utf8)))
    }

    @Test func sha512IsTheDigestOfPasswordThenSalt() throws {
        // Independent of the implementation: Python's hashlib.sha512(b"secret" + salt) for this salt.
        let salt = Array("0123456789ab".utf8)
        let hash = PasswordHash.make(password: Array("secret".utf8), algorithm: .sha512, iterations: 1, salt: salt)
        #expect(hash.encoded == "$6$MDEyMzQ1Njc4OWFi$" + Self.pythonSHA512OfSecretThenSalt)
    }

    static let pythonSHA512OfSecretThenSalt =
        "qEXipeLbgxRlwd06QHfY5WITkUZg0jLg9SZbXzq3ifXjfj+v3GbJGrSfC5PAg3UNCS+UFfbhUIZX4bmIAs330w=="

    static let hashA86 = String(repeating: "A", count: 86) + "=="

    static let malformedFields: [(String, PasswordHash.FormatError)] = [
        ("secret", .notHashed),
        ("", .notHashed),
        ("7$101$a$b", .notHashed),
        ("$5$abc$def", .unknownAlgorithm("5")),
        ("$$", .unknownAlgorithm("")),
        ("$7$", .wrongFieldCount(algorithm: .sha512PBKDF2)),
        ("$7$101$RVujpgAaLiBkQNoA", .wrongFieldCount(algorithm: .sha512PBKDF2)),
        ("$7$101$RVujpgAaLiBkQNoA$x$y", .wrongFieldCount(algorithm: .sha512PBKDF2)),
        ("$6$RVujpgAaLiBkQNoA", .wrongFieldCount(algorithm: .sha512)),
        ("$6$101$RVujpgAaLiBkQNoA$x", .wrongFieldCount(algorithm: .sha512)),
        ("$7$0$RVujpgAaLiBkQNoA$" + hashA86, .invalidIterations("0")),
        ("$7$-5$RVujpgAaLiBkQNoA$" + hashA86, .invalidIterations("-5")),
        ("$7$ 101$RVujpgAaLiBkQNoA$" + hashA86, .invalidIterations(" 101")),
        ("$7$2147483648$RVujpgAaLiBkQNoA$" + hashA86, .invalidIterations("2147483648")),
        ("$7$$RVujpgAaLiBkQNoA$" + hashA86, .invalidIterations("")),
        ("$7$101$RVujpgAa$" + hashA86, .invalidSalt),
        ("$7$101$RVujpgAaLiBkQN!A$" + hashA86, .invalidSalt),
        ("$7$101$RVujpgAaLiBkQNoA$" + String(repeating: "A", count: 84) + "==", .invalidHash),
        ("$7$101$RVujpgAaLiBkQNoA$" + String(repeating: "A", count: 86), .invalidHash),
        ("$6$RVujpgAaLiBkQNoA$" + String(repeating: "A", count: 88), .invalidHash),
        ("$6$RVujpgAaLiBkQNoA$", .invalidHash),
    ]

    @Test(arguments: malformedFields)
    func malformedFieldsAreRejected(field: String, expected: PasswordHash.FormatError) {
        #expect(throws: expected) { try PasswordHash(encoded: field) }
    }

    @Test func constantTimeComparison() {
        let a = [UInt8](repeating: 7, count: 64)
        var b = a
        #expect(PasswordHash.constantTimeEquals(a, b))
        b[63] ^= 1
        #expect(!PasswordHash.constantTimeEquals(a, b))
        b = a
        b[0] ^= 0x80
        #expect(!PasswordHash.constantTimeEquals(a, b))
        #expect(!PasswordHash.constantTimeEquals(a, Array(a.dropLast())))
        #expect(PasswordHash.constantTimeEquals([], []))
    }

    @Test func decoyCostsWhatItsModelCosts() {
        let model = PasswordHash.make(password: Array("x".utf8), iterations: 5_000)
        guard case .sha512PBKDF2(let iterations, let salt, let hash) = PasswordHash.decoy(like: model) else {
            Issue.record("the decoy of a $7$ hash must be a $7$ hash")
            return
        }
        #expect(iterations == 5_000)
        #expect(salt.count == 12 && hash.count == 64)
        #expect(PasswordHash.decoy(like: .sha512(salt: [], hash: [])).algorithm == .sha512)
    }
}
