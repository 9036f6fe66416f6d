import Foundation
import Testing

@testable import TernServer

@Suite struct PasswordFileTests {
    static func parse(_ text: String, path: String = "passwd") throws(PasswordFileError) -> PasswordFile {
        try PasswordFile(contents: Array(text.utf8), path: path)
    }

    @Test func fileWrittenByMosquittoPasswdVerifiesEveryUser() throws {
        let file = try Self.parse(MosquittoPasswdVectors.file)
        #expect(file.usernames == MosquittoPasswdVectors.all.map(\.username))
        for vector in MosquittoPasswdVectors.all {
            #expect(file.verify(username: vector.username, password: vector.password), "\(vector.username)")
            #expect(file.verify(username: vector.username, password: Array(vector.password.utf8)))
        }
    }

    @Test func wrongPasswordUnknownUserAndMissingPasswordAreRefused() throws {
        let file = try Self.parse(MosquittoPasswdVectors.file)
        #expect(!file.verify(username: "alice", password: "Secret"))
        #expect(!file.verify(username: "alice", password: "secret "))
        #expect(!file.verify(username: "alice", password: ""))
        #expect(!file.verify(username: "alice", password: nil))
        #expect(!file.verify(username: "mallory", password: "secret"))
        #expect(!file.verify(username: "mallory", password: nil))
        #expect(!file.verify(username: "", password: ""))
        // carol's password is the empty string: a CONNECT without a password is still refused.
        #expect(file.verify(username: "carol", password: ""))
        #expect(!file.verify(username: "carol", password: nil))
        // The password is bytes: another user's password does not open this account.
        #expect(!file.verify(username: "bob", password: "secret"))
        #expect(file.contains(username: "alice"))
        #expect(!file.contains(username: "mallory"))
    }

    @Test func userNamesAreComparedByteForByte() throws {
        let file = try Self.parse(MosquittoPasswdVectors.file)
        let precomposed = "d\u{E4}vid"
        let decomposed = "da\u{308}vid"
        #expect(precomposed == decomposed, "Swift calls these equal; MQTT does not")
        #expect(file.verify(username: precomposed, password: "pässwörd 🔑"))
        #expect(!file.verify(username: decomposed, password: "pässwörd 🔑"))
        #expect(!file.verify(username: "Alice", password: "secret"))
    }

    @Test func commentsBlankLinesBlanksAndLineEndingsAreHandledAsMosquittoDoes() throws {
        let alice = MosquittoPasswdVectors.all[0]
        let frank = MosquittoPasswdVectors.all[5]
        let text = "# users of the test broker\n"
            + "\n"
            + "   \t\n"
            + "  # an indented comment: with a colon\n"
            + "#alice:\(frank.field)\n"
            + "  alice \t: \(alice.field)  \r\n"
            + "frank:\(frank.field)"  // no newline at the end
        let file = try Self.parse(text)
        #expect(file.usernames == ["alice", "frank"])
        #expect(file.verify(username: "alice", password: alice.password))
        #expect(file.verify(username: "frank", password: frank.password))
        #expect(!file.verify(username: "#alice", password: frank.password))
    }

    @Test func emptyFileHasNoUsers() throws {
        for text in ["", "\n", "# nobody yet\n"] {
            let file = try Self.parse(text)
            #expect(file.usernames.isEmpty)
            #expect(!file.verify(username: "alice", password: "secret"))
        }
    }

    static let alice = MosquittoPasswdVectors.all[0].field

    static let malformedFiles: [(String, Int, PasswordFileError.Reason)] = [
        ("alice:\(alice)\nbob\n", 2, .missingSeparator),
        ("alice:secret\n", 1, .invalidHash(username: "alice", .notHashed)),
        ("# c\n\nbob:\n", 3, .missingPassword(username: "bob")),
        ("bob:   \r\n", 1, .missingPassword(username: "bob")),
        (":\(alice)\n", 1, .emptyUsername),
        ("  :\(alice)\n", 1, .emptyUsername),
        ("alice:\(alice)\nalice:\(alice)\n", 2, .duplicateUser(username: "alice", firstLine: 1)),
        ("alice:\(alice)\n bob:$5$x$y\n", 2, .invalidHash(username: "bob", .unknownAlgorithm("5"))),
        ("alice:\(alice):extra\n", 1, .invalidHash(username: "alice", .invalidHash)),
        ("alice::\(alice)\n", 1, .invalidHash(username: "alice", .notHashed)),
        ("alice:$7$0$RVujpgAaLiBkQNoA$" + String(repeating: "A", count: 86) + "==\n", 1,
         .invalidHash(username: "alice", .invalidIterations("0"))),
    ]

    @Test(arguments: malformedFiles)
    func malformedLinesAreReportedWithTheirNumber(text: String, line: Int, reason: PasswordFileError.Reason) {
        #expect(throws: PasswordFileError(path: "/etc/tern/passwd", line: line, reason: reason)) {
            try Self.parse(text, path: "/etc/tern/passwd")
        }
    }

    @Test func userNamesMustBeUsableByMQTTClients() {
        let invalidUTF8: [UInt8] = [0x61, 0xFF, 0x3A] + Array(Self.alice.utf8)
        #expect(throws: PasswordFileError(path: "p", line: 1, reason: .usernameNotUTF8)) {
            try PasswordFile(contents: invalidUTF8, path: "p")
        }
        let withNull: [UInt8] = [0x61, 0x00, 0x62, 0x3A] + Array(Self.alice.utf8)
        #expect(throws: PasswordFileError(path: "p", line: 1, reason: .usernameContainsNull)) {
            try PasswordFile(contents: withNull, path: "p")
        }
        let long = String(repeating: "u", count: 65_536) + ":" + Self.alice
        #expect(throws: PasswordFileError(path: "p", line: 1, reason: .usernameTooLong)) {
            try Self.parse(long, path: "p")
        }
        let longest = String(repeating: "u", count: 65_535) + ":" + Self.alice
        #expect(throws: Never.self) { try Self.parse(longest, path: "p") }
    }

    @Test func errorDescriptionNamesFileAndLine() {
        do {
            _ = try Self.parse("# users\nalice:secret\n", path: "/etc/tern/passwd")
            Issue.record("a plain-text password must not load")
        } catch {
            #expect(error.line == 2)
            #expect(error.description.hasPrefix("/etc/tern/passwd:2: user 'alice': the password is not hashed"),
                    "\(error)")
            #expect(error.description.contains("tern passwd -U"))
        }
    }

    @Test func hashThenVerifyRoundTrips() throws {
        let pbkdf2 = PasswordFile.hash(password: "s3cr3t pässword")
        #expect(pbkdf2.hasPrefix("$7$101$"))
        let legacy = PasswordFile.hash(password: "other", algorithm: .sha512)
        #expect(legacy.hasPrefix("$6$"))
        let slow = PasswordFile.hash(password: "slow", iterations: 10_000)
        #expect(slow.hasPrefix("$7$10000$"))
        let file = try Self.parse("u1:\(pbkdf2)\nu2:\(legacy)\nu3:\(slow)\n")
        #expect(file.verify(username: "u1", password: "s3cr3t pässword"))
        #expect(!file.verify(username: "u1", password: "s3cr3t password"))
        #expect(file.verify(username: "u2", password: "other"))
        #expect(!file.verify(username: "u2", password: "s3cr3t pässword"))
        #expect(file.verify(username: "u3", password: "slow"))
        #expect(!file.verify(username: "u3", password: "Slow"))
    }

    @Test func unknownUsersAreCheckedAgainstADecoyWithTheTypicalCost() throws {
        let text = "a:\(PasswordFile.hash(password: "a", iterations: 500))\n"
            + "b:\(PasswordFile.hash(password: "b", iterations: 500))\n"
            + "c:\(PasswordFile.hash(password: "c", iterations: 20))\n"
            + "d:\(PasswordFile.hash(password: "d", algorithm: .sha512))\n"
        guard case .sha512PBKDF2(let iterations, _, _) = try Self.parse(text).decoy else {
            Issue.record("expected a PBKDF2 decoy")
            return
        }
        #expect(iterations == 500)
        #expect(try Self.parse("").decoy.algorithm == .sha512PBKDF2)
        let legacyOnly = "d:\(PasswordFile.hash(password: "d", algorithm: .sha512))\n"
        #expect(try Self.parse(legacyOnly).decoy.algorithm == .sha512)
    }

    @Test func loadReadsAFileAndReportsAMissingOne() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/passwd"
        try Data(MosquittoPasswdVectors.file.utf8).write(to: URL(fileURLWithPath: path))
        let file = try PasswordFile.load(path: path)
        #expect(file.path == path)
        #expect(file.verify(username: "bob", password: "p@ss w:rd"))

        let missing = directory.path + "/missing"
        #expect(throws: PasswordFileError(path: missing, line: nil, reason: .unreadable(errno: ENOENT))) {
            try PasswordFile.load(path: missing)
        }
        do {
            _ = try PasswordFile.load(path: missing)
        } catch {
            #expect(error.description == "\(missing): cannot read the file: No such file or directory")
        }
    }

    @Test func verifyingFromManyThreadsAtOnce() async throws {
        let file = try Self.parse(MosquittoPasswdVectors.file)
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<32 {
                let vector = MosquittoPasswdVectors.all[index % MosquittoPasswdVectors.all.count]
                group.addTask { file.verify(username: vector.username, password: vector.password) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 32 && results.allSatisfy { $0 })
    }
}

/// A directory under the system's temporary directory, removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("tern-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}
