import MQTTCore
import Testing

@testable import TernBroker

/// Reading the `acl_file` format. Every quirk asserted here was first observed on Mosquitto 2.0.11 (Debian
/// 2.0.11-1.2+deb12u2), by starting `/usr/sbin/mosquitto -c CONF` with `allow_anonymous true` and the file as
/// `acl_file`, then probing with mosquitto_pub/mosquitto_sub and a raw-socket client; the comments say what it did.
@Suite struct AccessControlListParsingTests {
    static func parse(_ text: String) throws(AccessControlListError) -> AccessControlList {
        try AccessControlList(parsing: text, path: "acl")
    }

    static func rule(_ access: AccessRule.Access, _ filter: String, line: Int) -> AccessRule {
        AccessRule(access: access, filter: filter, line: line)
    }

    @Test func mosquittoExampleFile() throws {
        // /usr/share/doc/mosquitto/examples/aclfile.example, verbatim.
        let acl = try Self.parse("""
            # This affects access control for clients with no username.
            topic read $SYS/#

            # This only affects clients with username "roger".
            user roger
            topic foo/bar

            # This affects all clients.
            pattern write $SYS/broker/connection/%c/state
            """)
        #expect(acl.anonymousRules == [Self.rule(.read, "$SYS/#", line: 2)])
        #expect(acl.usernames == ["roger"])
        #expect(acl.rules(ofUser: "roger") == [Self.rule(.readWrite, "foo/bar", line: 6)])
        #expect(acl.patterns == [Self.rule(.write, "$SYS/broker/connection/%c/state", line: 9)])
        #expect(acl.warnings.isEmpty)
        #expect(acl.path == "acl")
    }

    @Test func everyAccessWord() throws {
        let acl = try Self.parse("""
            topic read a
            topic write b
            topic readwrite c
            topic deny d
            topic e
            pattern read %u/a
            pattern write %u/b
            pattern readwrite %u/c
            pattern deny %u/d
            pattern %u/e
            """)
        #expect(acl.anonymousRules == [
            Self.rule(.read, "a", line: 1), Self.rule(.write, "b", line: 2), Self.rule(.readWrite, "c", line: 3),
            Self.rule(.deny, "d", line: 4), Self.rule(.readWrite, "e", line: 5),
        ])
        #expect(acl.patterns == [
            Self.rule(.read, "%u/a", line: 6), Self.rule(.write, "%u/b", line: 7),
            Self.rule(.readWrite, "%u/c", line: 8), Self.rule(.deny, "%u/d", line: 9),
            Self.rule(.readWrite, "%u/e", line: 10),
        ])
        #expect(acl.warnings.isEmpty)
    }

    @Test func sectionsRulesAndPatterns() throws {
        // Mosquitto: topic lines before any `user` line are the anonymous clients' (an anonymous publisher could
        // write with `topic write #`, a user `carol` with no section could not); pattern lines apply to everyone
        // wherever they are (`pattern read p/#` written in bob's section let anonymous clients, alice, bob and
        // carol read p/1); two `user M` sections merge (M read m1/x and m2/x); user names are case-sensitive
        // (`user m` got m3/x only, `user M` not).
        let acl = try Self.parse("""
            topic write #
            user M
            topic read m1/#
            pattern read p/#
            user m
            topic read m3/#
            user M
            topic read m2/#
            """)
        #expect(acl.anonymousRules == [Self.rule(.write, "#", line: 1)])
        #expect(acl.usernames == ["M", "m"])
        #expect(acl.rules(ofUser: "M") == [Self.rule(.read, "m1/#", line: 3), Self.rule(.read, "m2/#", line: 8)])
        #expect(acl.rules(ofUser: "m") == [Self.rule(.read, "m3/#", line: 6)])
        #expect(acl.rules(ofUser: "carol") == [])
        #expect(acl.patterns == [Self.rule(.read, "p/#", line: 4)])
    }

    @Test func userNamesKeepInnerSpaceAndAreTrimmed() throws {
        // Mosquitto: `user  bob   smith  ` is the user "bob   smith" (mosquitto_pub -u 'bob   smith' could write,
        // -u 'bob smith' could not); `user \tbob` is "bob"; `user # hash` is the user "# hash";
        // an indented `  user lead` works.
        let acl = try Self.parse("user  bob   smith  \ntopic a\nuser \tbob\ntopic b\nuser # hash\ntopic c\n  user lead\ntopic d")
        #expect(acl.usernames == ["bob   smith", "bob", "# hash", "lead"])
        #expect(acl.rules(ofUser: "bob   smith") == [Self.rule(.readWrite, "a", line: 2)])
        #expect(acl.rules(ofUser: "bob smith") == [])
        #expect(acl.rules(ofUser: "bob") == [Self.rule(.readWrite, "b", line: 4)])
        #expect(acl.rules(ofUser: "# hash") == [Self.rule(.readWrite, "c", line: 6)])
        #expect(acl.rules(ofUser: "lead") == [Self.rule(.readWrite, "d", line: 8)])
    }

    @Test func userNamesCompareByBytes() throws {
        // "é" precomposed and decomposed are equal Swift strings but different MQTT user names.
        let acl = try Self.parse("user caf\u{E9}\ntopic a")
        #expect(acl.rules(ofUser: "caf\u{E9}").count == 1)
        #expect(acl.rules(ofUser: "cafe\u{301}").isEmpty)
    }

    @Test func filtersMayContainSpacesAndUnicode() throws {
        // Mosquitto: `topic read x y z` is read access to the topic "x y z" (received by an anonymous subscriber,
        // not writable by it).
        let acl = try Self.parse("topic read x y z\ntopic write caf\u{E9}/+\ntopic  read   spaced/b  ")
        #expect(acl.anonymousRules == [
            Self.rule(.read, "x y z", line: 1), Self.rule(.write, "caf\u{E9}/+", line: 2),
            Self.rule(.read, "spaced/b", line: 3),
        ])
    }

    @Test func commentsBlankLinesAndLineEndings() throws {
        // Mosquitto: an empty file, blank lines, lines of spaces or a lone tab, `# comment` lines and CRLF line
        // endings all load (`user crlf\r` then `topic readwrite cr/#\r` let user crlf write cr/1).
        let acl = try Self.parse("# comment\n\n   \n\t\n#topic read not/a/rule\r\nuser crlf\r\ntopic readwrite cr/#\r\n")
        #expect(acl.anonymousRules.isEmpty)
        #expect(acl.usernames == ["crlf"])
        #expect(acl.rules(ofUser: "crlf") == [Self.rule(.readWrite, "cr/#", line: 7)])
        #expect(try Self.parse("").anonymousRules.isEmpty)
        #expect(try Self.parse("\n\n").patterns.isEmpty)
    }

    @Test func aSingleWordAfterTheKeywordIsTheFilter() throws {
        // Mosquitto: `topic read` alone grants read AND write on the topic "read" (an anonymous client published
        // to "read" and received it); `topic deny` alone grants read and write on the topic "deny".
        let acl = try Self.parse("topic read\ntopic deny\npattern write")
        #expect(acl.anonymousRules == [Self.rule(.readWrite, "read", line: 1), Self.rule(.readWrite, "deny", line: 2)])
        #expect(acl.patterns == [Self.rule(.readWrite, "write", line: 3)])
        #expect(acl.warnings == [
            AccessControlListWarning(path: "acl", line: 1, kind: .accessWordAsFilter("read")),
            AccessControlListWarning(path: "acl", line: 2, kind: .accessWordAsFilter("deny")),
            AccessControlListWarning(path: "acl", line: 3, kind: .accessWordAsFilter("write")),
            AccessControlListWarning(path: "acl", line: 3,
                                     kind: .patternWithoutSubstitution(filter: "write")),
        ])
    }

    @Test func aTabDoesNotSeparateTheAccessWordFromTheFilter() throws {
        // Mosquitto: `topic read<TAB>tab/b` loads, but an anonymous subscriber to tab/b received nothing and could
        // not publish to a/b with `topic read<TAB>a/b`: the whole "read<TAB>tab/b" is the filter, read and write.
        // A tab after the space is trimmed: `topic write <TAB>bw/x` let the user write bw/x.
        let acl = try Self.parse("topic read\ttab/b\ntopic write \tbw/x")
        #expect(acl.anonymousRules == [Self.rule(.readWrite, "read\ttab/b", line: 1), Self.rule(.write, "bw/x", line: 2)])
    }

    @Test func patternWithoutSubstitutionWarns() throws {
        // Mosquitto logs "Warning: ACL pattern 'a/b' does not contain '%c' or '%u'." and loads the file.
        let acl = try Self.parse("\npattern read a/b\npattern read a/%u%c/x")
        #expect(acl.patterns.count == 2)
        #expect(acl.warnings == [AccessControlListWarning(path: "acl", line: 2,
                                                          kind: .patternWithoutSubstitution(filter: "a/b"))])
        #expect(acl.warnings[0].description
            == "acl:2: warning: pattern \"a/b\" contains neither %c nor %u, so it applies to every client alike")
    }

    // MARK: Errors: Mosquitto refuses to start ("Error: ... in acl_file", exit status 3) on each of these.

    static let refused: [(text: String, line: Int, reason: AccessControlListError.Reason)] = [
        // "Invalid line in acl_file ...: Topic."
        ("Topic read a", 1, .unknownKeyword("Topic")),
        ("bogus", 1, .unknownKeyword("bogus")),
        ("topic read a\nusers bob", 2, .unknownKeyword("users")),
        // An indented comment is not a comment: "Invalid line ...:   #."
        ("topic read a\n\n  # indented comment", 3, .unknownKeyword("#")),
        ("\t# tab comment", 1, .unknownKeyword("\t#")),
        // Only spaces separate words: "Invalid line ...: <TAB>topic." and "...: topic<TAB>read<TAB>a/b."
        ("\ttopic read a/b", 1, .unknownKeyword("\ttopic")),
        ("topic\tread\ta/b", 1, .unknownKeyword("topic\tread\ta/b")),
        ("user\tbob", 1, .unknownKeyword("user\tbob")),
        // "Empty topic in acl_file"
        ("topic", 1, .missingTopic(keyword: "topic")),
        ("# c\ntopic   ", 2, .missingTopic(keyword: "topic")),
        ("pattern", 1, .missingTopic(keyword: "pattern")),
        // "Invalid topic access type "writ" in acl_file"; access words are case-sensitive.
        ("topic writ a", 1, .unknownAccess("writ")),
        ("topic READ a", 1, .unknownAccess("READ")),
        ("topic a b", 1, .unknownAccess("a")),
        ("pattern writ x", 1, .unknownAccess("writ")),
        // "Invalid ACL topic "a/b#" in acl_file"; a trailing comment is part of the filter.
        ("topic read a/b#", 1, .invalidFilter("a/b#", .misplacedMultiLevelWildcard)),
        ("topic read a/+b", 1, .invalidFilter("a/+b", .misplacedSingleLevelWildcard)),
        ("topic read #/x", 1, .invalidFilter("#/x", .misplacedMultiLevelWildcard)),
        ("pattern read a/%u/#/x", 1, .invalidFilter("a/%u/#/x", .misplacedMultiLevelWildcard)),
        ("topic read a/b # trailing comment", 1,
         .invalidFilter("a/b # trailing comment", .misplacedMultiLevelWildcard)),
        // "Missing username in acl_file"
        ("user", 1, .missingUsername),
        ("topic a\nuser   ", 2, .missingUsername),
        // Not a Mosquitto case (C strings end at NUL): refused rather than cut short.
        ("topic read a\u{0}b", 1, .containsNull),
    ]

    @Test(arguments: refused.indices)
    func refusedLine(_ row: Int) {
        let (text, line, reason) = Self.refused[row]
        #expect(throws: AccessControlListError(path: "acl", line: line, reason: reason)) {
            try Self.parse(text)
        }
    }

    @Test func errorDescriptions() {
        #expect(AccessControlListError(path: "acl", line: 7, reason: .unknownAccess("writ")).description
            == "acl:7: unknown access \"writ\" (expected read, write, readwrite or deny)")
        #expect(AccessControlListError(path: "/etc/tern/acl", line: 3, reason: .unknownKeyword("#")).description
            == "/etc/tern/acl:3: unknown keyword \"#\" (expected topic, pattern or user); a comment's # must be the"
            + " first character of the line")
        #expect(AccessControlListError(path: "acl", line: 1, reason: .unknownKeyword("topic\tread")).description
            == "acl:1: unknown keyword \"topic\tread\" (expected topic, pattern or user); words must be separated"
            + " by spaces, not tabs")
        #expect(AccessControlListError(path: "acl", line: 2, reason: .missingTopic(keyword: "pattern")).description
            == "acl:2: \"pattern\" without a topic filter")
        #expect(AccessControlListError(path: "acl", line: 4, reason: .missingUsername).description
            == "acl:4: \"user\" without a user name")
        #expect(AccessControlListError(path: "acl", line: 5,
                                       reason: .invalidFilter("a/b#", .misplacedMultiLevelWildcard)).description
            == "acl:5: invalid topic filter \"a/b#\": topic filter has a '#' that is not alone or the last level"
            + " after a '/'")
    }

    @Test func theFirstBadLineIsReported() {
        #expect(throws: AccessControlListError(path: "f", line: 2, reason: .unknownAccess("rd"))) {
            try AccessControlList(parsing: "topic read a\ntopic rd b\ntopic writ c", path: "f")
        }
    }

    @Test func lineNumbersCountEveryLine() throws {
        let acl = try Self.parse("\r\n# one\n\n\n    \ntopic read a\n")
        #expect(acl.anonymousRules == [Self.rule(.read, "a", line: 6)])
    }
}
