import Foundation
import Testing

@testable import TernServer

@Suite struct PasswordFileDocumentTests {
    static let alice = MosquittoPasswdVectors.all[0]
    static let bob = MosquittoPasswdVectors.all[1]

    static func document(_ text: String) throws(PasswordFileError) -> PasswordFileDocument {
        try PasswordFileDocument(contents: Array(text.utf8), path: "passwd")
    }

    static func text(_ document: PasswordFileDocument) -> String {
        String(decoding: document.contents, as: UTF8.self)
    }

    @Test func unchangedDocumentIsByteForByteTheFile() throws {
        let text = "# header\r\n\n  alice : \(Self.alice.field)\r\nbob:plain\n\tcarol:x:y"
        #expect(Self.text(try Self.document(text)) == text)
    }

    @Test func settingAnExistingUserRewritesOnlyItsLine() throws {
        let text = "# header\n\nalice:\(Self.alice.field)\r\n# between\nbob:\(Self.bob.field)\n"
        var document = try Self.document(text)
        let hash = PasswordHash.make(password: Array("new".utf8))
        let replaced = document.setPassword(hash, for: "alice")
        #expect(replaced)
        #expect(Self.text(document) == "# header\n\nalice:\(hash.encoded)\n# between\nbob:\(Self.bob.field)\n")
        let file = try PasswordFile(contents: document.contents, path: "passwd")
        #expect(file.verify(username: "alice", password: "new"))
        #expect(file.verify(username: "bob", password: Self.bob.password))
    }

    @Test func settingANewUserAppendsALine() throws {
        var document = try Self.document("# header\nalice:\(Self.alice.field)")  // no final newline
        let hash = PasswordHash.make(password: Array("pw".utf8), algorithm: .sha512)
        let replaced = document.setPassword(hash, for: "zoe")
        #expect(!replaced)
        #expect(Self.text(document) == "# header\nalice:\(Self.alice.field)\nzoe:\(hash.encoded)\n")

        var empty = PasswordFileDocument()
        empty.setPassword(hash, for: "zoe")
        #expect(Self.text(empty) == "zoe:\(hash.encoded)\n")
        #expect(empty.usernames == ["zoe"])
    }

    @Test func aUserDefinedTwiceKeepsOneLine() throws {
        var document = try Self.document("alice:a\nbob:b\nalice:c\n")
        #expect(document.usernames == ["alice", "bob", "alice"])
        let hash = PasswordHash.make(password: Array("pw".utf8))
        document.setPassword(hash, for: "alice")
        #expect(Self.text(document) == "alice:\(hash.encoded)\nbob:b\n")
    }

    @Test func removingAUser() throws {
        var document = try Self.document("# c\nalice:a\n\nbob:b\nalice:c\n")
        let removed = document.removeUser("alice")
        #expect(removed)
        #expect(Self.text(document) == "# c\n\nbob:b\n")
        let removedAgain = document.removeUser("alice")
        let removedOtherCase = document.removeUser("Bob")
        #expect(!removedAgain && !removedOtherCase)
        #expect(Self.text(document) == "# c\n\nbob:b\n")
    }

    @Test func upgradingHashesPlainTextPasswordsOnly() throws {
        let text = "# plain users\nalice:secret\n  bob  :  p@ss word \r\ncarol:\(Self.alice.field)\ndave:pass:word\neve::colon\n"
        var document = try Self.document(text)
        let hashed = document.hashPlainTextPasswords()
        #expect(hashed == 4)
        let lines = Self.text(document).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "# plain users")
        #expect(lines[1].hasPrefix("alice:$7$101$"))
        #expect(lines[2].hasPrefix("bob:$7$101$"))
        #expect(lines[3] == "carol:\(Self.alice.field)", "an existing hash is kept")
        let file = try PasswordFile(contents: document.contents, path: "passwd")
        #expect(file.verify(username: "alice", password: "secret"))
        #expect(file.verify(username: "bob", password: "p@ss word"))
        #expect(file.verify(username: "carol", password: Self.alice.password))
        // As Mosquitto reads a plain-text line, a password stops at the next ':' (empty fields skipped).
        #expect(file.verify(username: "dave", password: "pass"))
        #expect(file.verify(username: "eve", password: "colon"))
        // Twice is harmless.
        let hashedAgain = document.hashPlainTextPasswords()
        #expect(hashedAgain == 0)

        var legacy = try Self.document("alice:secret\n")
        legacy.hashPlainTextPasswords(algorithm: .sha512)
        #expect(Self.text(legacy).hasPrefix("alice:$6$"))
        var slow = try Self.document("alice:secret\n")
        slow.hashPlainTextPasswords(iterations: 1_000)
        #expect(Self.text(slow).hasPrefix("alice:$7$1000$"))
    }

    static let corruptFiles: [(String, Int, PasswordFileError.Reason)] = [
        ("alice:a\nbob\n", 2, .missingSeparator),
        ("alice:a\n:b\n", 2, .emptyUsername),
        ("alice:\n", 1, .missingPassword(username: "alice")),
    ]

    @Test(arguments: corruptFiles)
    func corruptLinesAreReportedWithTheirNumber(text: String, line: Int, reason: PasswordFileError.Reason) {
        #expect(throws: PasswordFileError(path: "passwd", line: line, reason: reason)) {
            try Self.document(text)
        }
    }

    @Test func writeCreatesAPrivateFileAndKeepsAnExistingFilesMode() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/passwd"
        var document = PasswordFileDocument()
        document.setPassword(PasswordHash.make(password: Array("pw".utf8)), for: "alice")
        try document.write(to: path)
        #expect(try Self.mode(path) == 0o600)
        #expect(try PasswordFile.load(path: path).verify(username: "alice", password: "pw"))

        #expect(chmod(path, 0o640) == 0)
        var read = try PasswordFileDocument.read(path: path)
        read.setPassword(PasswordHash.make(password: Array("pw2".utf8)), for: "bob")
        try read.write(to: path)
        #expect(try Self.mode(path) == 0o640)
        let loaded = try PasswordFile.load(path: path)
        #expect(loaded.usernames == ["alice", "bob"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["passwd"],
                "no temporary file is left behind")
    }

    @Test func writeReplacesTheTargetOfASymbolicLink() throws {
        let directory = try TemporaryDirectory()
        let target = directory.path + "/real"
        let link = directory.path + "/passwd"
        try PasswordFileDocument().write(to: target)
        #expect(symlink(target, link) == 0)
        var document = try PasswordFileDocument.read(path: link)
        document.setPassword(PasswordHash.make(password: Array("pw".utf8)), for: "alice")
        try document.write(to: link)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == target)
        #expect(try PasswordFile.load(path: target).verify(username: "alice", password: "pw"))
    }

    @Test func writeIntoAMissingDirectoryFails() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/missing/passwd"
        #expect(throws: PasswordFileError(path: path, line: nil, reason: .unwritable(errno: ENOENT))) {
            try PasswordFileDocument().write(to: path)
        }
    }

    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }
}
