import MQTTCore
import Testing

@testable import TernBroker

/// Who may publish and receive what. Each table is an experiment run against Mosquitto 2.0.11 (Debian
/// 2.0.11-1.2+deb12u2: `/usr/sbin/mosquitto -c CONF` with `listener PORT 127.0.0.1`, `allow_anonymous true` and
/// the table's text as `acl_file`; publishers were `mosquitto_pub -V mqttv5 -q 1 -d`, whose PUBACK reason code
/// shows the decision (0x87 Not authorized when denied; 0x00 or 0x10 when allowed), subscribers
/// `mosquitto_sub -t '#' -v` or a raw-socket client). Comments quote what Mosquitto did; rows without a comment
/// follow from the same rules and were not all probed one by one.
@Suite struct AccessControlListEvaluationTests {
    /// One client and one topic: whether it may publish there, whether it may receive from there.
    struct Probe: Sendable, CustomTestStringConvertible {
        var username: String?
        var clientID = "client"
        var topic: String
        var publish: Bool
        var receive: Bool

        init(_ username: String?, id clientID: String = "client", _ topic: String, publish: Bool, receive: Bool) {
            self.username = username
            self.clientID = clientID
            self.topic = topic
            self.publish = publish
            self.receive = receive
        }

        var testDescription: String {
            "\(username.map { "user \"\($0)\"" } ?? "anonymous") id \"\(clientID)\" topic \"\(topic)\""
        }
    }

    static func check(_ aclText: String, _ probes: [Probe], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let acl = try AccessControlList(parsing: aclText, path: "acl")
        for probe in probes {
            let rules = acl.rules(clientID: probe.clientID, username: probe.username)
            #expect(rules.mayPublish(topic: probe.topic) == probe.publish, "publish: \(probe.testDescription)",
                    sourceLocation: sourceLocation)
            #expect(rules.mayReceive(topic: probe.topic) == probe.receive, "receive: \(probe.testDescription)",
                    sourceLocation: sourceLocation)
            // The one-shot conveniences agree with the compiled rules.
            #expect(acl.mayPublish(topic: probe.topic, clientID: probe.clientID, username: probe.username)
                == probe.publish, sourceLocation: sourceLocation)
            #expect(acl.mayReceive(topic: probe.topic, clientID: probe.clientID, username: probe.username)
                == probe.receive, sourceLocation: sourceLocation)
        }
    }

    @Test func anonymousRulesAndReadFiltering() throws {
        // Mosquitto: anonymous subscribers to '#' (MQTT 3.1.1 and 5) got SUBACK 0 (granted) and then only a/1 of
        // a/1 and b/1; a subscriber to 'b/#' got SUBACK 0 and nothing.
        try Self.check("topic read a/#\ntopic write #", [
            Probe(nil, "a/1", publish: true, receive: true),
            Probe(nil, "a", publish: true, receive: true),  // a/# matches its parent level
            Probe(nil, "b/1", publish: true, receive: false),
            Probe(nil, "ab", publish: true, receive: false),
            Probe(nil, "$SYS/x", publish: false, receive: false),  // '#' does not reach '$' topics
            Probe(nil, "$app/x", publish: false, receive: false),
            // The anonymous rules are not a default: a user without a section gets none of them.
            Probe("carol", "a/1", publish: false, receive: false),
        ])
    }

    @Test func denyWinsWithinAListAndOwnGrantsWinOverPatternDenials() throws {
        // Mosquitto, everyone subscribed to '#', the anonymous client publishing each topic:
        //   alice got a/1 and p/1 (her deny on a/secret/# wins though it comes after her read a/#);
        //   bob got b/1, b/secret/x and p/1 (his own read b/# wins over `pattern deny b/secret/#`);
        //   an anonymous client and carol (no section) got p/1 only (patterns apply to all; p/secret denied).
        let acl = """
            topic write #
            user alice
            topic read a/#
            topic deny a/secret/#
            user bob
            topic read b/#
            pattern deny b/secret/#
            pattern read p/#
            pattern deny p/secret/#
            """
        let topics = ["a/1", "a/secret/x", "b/1", "b/secret/x", "p/1", "p/secret/x"]
        let received: [String?: Set<String>] = [
            "alice": ["a/1", "p/1"], "bob": ["b/1", "b/secret/x", "p/1"], nil: ["p/1"], "carol": ["p/1"],
        ]
        var probes: [Probe] = []
        for (user, readable) in received {
            for topic in topics {
                // Only the anonymous client has a write rule (`topic write #`); the patterns only grant read.
                probes.append(Probe(user, topic, publish: user == nil, receive: readable.contains(topic)))
            }
        }
        try Self.check(acl, probes)
    }

    @Test func denyLinesMayComeAnywhereInTheList() throws {
        let grantsFirst = "topic readwrite a/#\ntopic deny a/b\ntopic readwrite a/b"
        let denyFirst = "topic deny a/b\ntopic readwrite a/#"
        for acl in [grantsFirst, denyFirst] {
            try Self.check(acl, [
                Probe(nil, "a/b", publish: false, receive: false),
                Probe(nil, "a/c", publish: true, receive: true),
                Probe(nil, "a/b/c", publish: true, receive: true),
            ])
        }
    }

    @Test func denyDeniesBothDirections() throws {
        try Self.check("user u\ntopic write x/#\ntopic read x/#\ntopic deny x/private/+", [
            Probe("u", "x/public", publish: true, receive: true),
            Probe("u", "x/private/1", publish: false, receive: false),
            Probe("u", "x/private", publish: true, receive: true),
            Probe("u", "x/private/1/2", publish: true, receive: true),
        ])
    }

    @Test func readAndWriteAreSeparate() throws {
        try Self.check("user u\ntopic read r/#\ntopic write w/#\ntopic readwrite rw/#\ntopic both/#", [
            Probe("u", "r/1", publish: false, receive: true),
            Probe("u", "w/1", publish: true, receive: false),
            Probe("u", "rw/1", publish: true, receive: true),
            Probe("u", "both/1", publish: true, receive: true),
            Probe("u", "other", publish: false, receive: false),
        ])
    }

    @Test func patternSubstitution() throws {
        // Mosquitto (PUBACK reason codes):
        //   alice → w/1 denied (0x87): the anonymous rules are not hers; anonymous → w/1 allowed;
        //   alice → u/alice/x allowed; alice with id pubA → c/pubA/x allowed; anonymous id pubB → c/pubB/x allowed;
        //   anonymous → "u/%u/x" and "u//x" denied: a %u pattern does not apply without a user name;
        //   carol (no section) → w/1 denied;
        //   user "x#" → own/1 allowed (its own list is checked before the '+'/'#' rule), c/pubC/x denied (no
        //   patterns at all for it, even %c ones);
        //   user "a/b" → u/a/b/x allowed: '/' in a user name is substituted as is;
        //   alice with id "c+d" → u/alice/x denied; alice with id "c/d" → c/c/d/x allowed;
        //   alice → a/1 denied (she may only read it).
        let acl = """
            topic read #
            topic write w/#
            user alice
            topic read a/#
            user x#
            topic write own/#
            pattern readwrite u/%u/#
            pattern readwrite c/%c/#
            """
        try Self.check(acl, [
            Probe("alice", "w/1", publish: false, receive: false),
            Probe(nil, "w/1", publish: true, receive: true),
            Probe("alice", "u/alice/x", publish: true, receive: true),
            Probe("alice", id: "pubA", "c/pubA/x", publish: true, receive: true),
            Probe(nil, id: "pubB", "c/pubB/x", publish: true, receive: true),
            Probe(nil, id: "pubB", "u/%u/x", publish: false, receive: true),  // reads via `topic read #`
            Probe(nil, id: "pubB", "u//x", publish: false, receive: true),
            Probe("carol", "w/1", publish: false, receive: false),
            Probe("x#", "own/1", publish: true, receive: false),
            Probe("x#", id: "pubC", "c/pubC/x", publish: false, receive: false),
            Probe("a/b", "u/a/b/x", publish: true, receive: true),
            Probe("a/b", "u/a/x", publish: false, receive: false),
            Probe("alice", id: "c+d", "u/alice/x", publish: false, receive: false),
            Probe("alice", id: "c+d", "a/1", publish: false, receive: true),  // her own list still applies
            Probe("alice", id: "c/d", "c/c/d/x", publish: true, receive: true),
            Probe("alice", "a/1", publish: false, receive: true),
            // Other clients' places are not theirs.
            Probe("alice", "u/bob/x", publish: false, receive: false),
            Probe("alice", id: "pubA", "c/pubB/x", publish: false, receive: false),
        ])
    }

    @Test func substitutionInsideALevelAndEmptyUserNames() throws {
        // Mosquitto (raw MQTT 5 client, PUBACK reason codes):
        //   alice → pre-alice-post/x allowed: %u is replaced wherever it is, though mosquitto.conf(5) says it
        //   must be a whole level; alice → u/alice/1 allowed;
        //   a CONNECT with a zero-length user name is anonymous: anon/1 allowed (anonymous rules), u//1 and
        //   "u/%u/1" denied (%u patterns skipped), c/emp/x allowed with client id "emp".
        let acl = """
            topic readwrite anon/#
            user x
            topic readwrite x/#
            pattern readwrite u/%u/#
            pattern readwrite pre-%u-post/x
            pattern readwrite c/%c/x
            """
        try Self.check(acl, [
            Probe("alice", "pre-alice-post/x", publish: true, receive: true),
            Probe("alice", "u/alice/1", publish: true, receive: true),
            Probe("", id: "emp", "anon/1", publish: true, receive: true),
            Probe("", id: "emp", "u//1", publish: false, receive: false),
            Probe("", id: "emp", "u/%u/1", publish: false, receive: false),
            Probe("", id: "emp", "c/emp/x", publish: true, receive: true),
            Probe("", id: "emp", "x/1", publish: false, receive: false),
            Probe("x", "anon/1", publish: false, receive: false),
        ])
    }

    @Test func substitutionEdgeCases() {
        #expect(AccessControlList.substitute("a/%c/%u", clientID: "id", username: "me") == "a/id/me")
        #expect(AccessControlList.substitute("%u%c%u", clientID: "i", username: "u") == "uiu")
        #expect(AccessControlList.substitute("%%c", clientID: "i", username: nil) == "%i")
        #expect(AccessControlList.substitute("%x/%/%", clientID: "i", username: nil) == "%x/%/%")
        #expect(AccessControlList.substitute("a/%c", clientID: "caf\u{E9}", username: nil) == "a/caf\u{E9}")
        #expect(AccessControlList.substitute("a/%u", clientID: "i", username: nil) == nil)
        #expect(AccessControlList.substitute("a/%c", clientID: "i", username: nil) == "a/i")
    }

    @Test func dollarTopicsForPublishing() throws {
        // Mosquitto, client id pubX, every topic below granted `readwrite` by the file:
        //   $SYS/x, $SYS, $SYSx/a → 0x87 (anything starting "$SYS" is refused whatever the file says);
        //   $SYS/broker/connection/pubX/state → allowed (left to the file, for bridges);
        //   $foo/x → allowed (ordinary topic, granted by `topic readwrite $foo/#`);
        //   $bar/x → 0x87 for the anonymous client and for bob: `#` does not grant '$' topics;
        //   $share/g/a, $shared/a, $sharex → 0x87 (anything starting "$share" is refused).
        let acl = """
            topic readwrite #
            topic readwrite $SYS/#
            topic readwrite $foo/#
            topic readwrite $SYSx/#
            topic readwrite $share/#
            topic readwrite $shared/#
            user bob
            topic readwrite #
            """
        try Self.check(acl, [
            Probe(nil, id: "pubX", "$SYS/x", publish: false, receive: true),
            Probe(nil, id: "pubX", "$SYS", publish: false, receive: true),
            Probe(nil, id: "pubX", "$SYSx/a", publish: false, receive: true),
            Probe(nil, id: "pubX", "$SYS/broker/connection/pubX/state", publish: true, receive: true),
            Probe(nil, id: "pubX", "$foo/x", publish: true, receive: true),
            Probe(nil, id: "pubX", "$bar/x", publish: false, receive: false),
            Probe("bob", "$bar/x", publish: false, receive: false),
            Probe("bob", "$SYS/x", publish: false, receive: false),
            Probe(nil, id: "pubX", "$share/g/a", publish: false, receive: true),
            Probe(nil, id: "pubX", "$shared/a", publish: false, receive: true),
            Probe(nil, id: "pubX", "$sharex", publish: false, receive: false),
        ])
    }

    @Test func dollarTopicsForReading() throws {
        // Mosquitto, `$foo/x` published by the anonymous client, `$SYS/#` subscribed:
        //   r1 (`topic read #`) subscribed to '#' and to '$foo/#' + '$SYS/#': SUBACK granted, received nothing;
        //   r2 (`topic read $foo/#`, `topic read $SYS/broker/version`) received $foo/x and, of all the retained
        //   $SYS topics, only $SYS/broker/version;
        //   r3 (`topic read +/x`) subscribed to '$foo/x', '+/x', '$SYS/#': received nothing.
        let acl = """
            topic readwrite $foo/#
            topic write #
            user r1
            topic read #
            user r2
            topic read $foo/#
            topic read $SYS/broker/version
            user r3
            topic read +/x
            """
        try Self.check(acl, [
            Probe("r1", "$foo/x", publish: false, receive: false),
            Probe("r2", "$foo/x", publish: false, receive: true),
            Probe("r3", "$foo/x", publish: false, receive: false),
            Probe("r1", "$SYS/broker/version", publish: false, receive: false),
            Probe("r2", "$SYS/broker/version", publish: false, receive: true),
            Probe("r2", "$SYS/broker/uptime", publish: false, receive: false),
            Probe("r3", "$SYS/x", publish: false, receive: false),
            Probe("r3", "a/x", publish: false, receive: true),
            Probe(nil, "$foo/x", publish: true, receive: true),
        ])
    }

    @Test func willsAndRetainedMessages() throws {
        // Mosquitto, an anonymous subscriber to '#' watching:
        //   the anonymous MQTT 3.1.1 client's QoS 1 PUBLISH to forbidden/x got PUBACK and was dropped; its QoS 2
        //   one got PUBREC, then PUBCOMP after PUBREL, and was dropped; QoS 0 was dropped, the connection stayed;
        //   an MQTT 5 client's QoS 2 PUBLISH got PUBREC 0x87;
        //   wills: CONNECT was accepted (CONNACK 0) whatever the will topic; on an abrupt close the will was
        //   published for w → will/ok (and will/ok3 over 3.1.1) but not for the anonymous client → will/anon, nor
        //   for w → will/bad (denied): the will is checked as a PUBLISH by its client when it is sent;
        //   retained: w published retained ret/a and ret/b; r (`topic read ret/a`) subscribing to ret/# got ret/a
        //   only.
        let acl = """
            topic read #
            topic write pub/#
            user w
            topic write will/#
            topic deny will/bad
            topic write ret/#
            user r
            topic read ret/a
            """
        try Self.check(acl, [
            Probe(nil, "forbidden/x", publish: false, receive: true),
            Probe(nil, "pub/1", publish: true, receive: true),
            Probe(nil, "will/anon", publish: false, receive: true),
            Probe("w", "will/ok", publish: true, receive: false),
            Probe("w", "will/bad", publish: false, receive: false),
            Probe("w", "ret/a", publish: true, receive: false),
            Probe("r", "ret/a", publish: false, receive: true),
            Probe("r", "ret/b", publish: false, receive: false),
        ])
    }

    @Test func anEmptyListDeniesEverything() throws {
        // Mosquitto: with an empty acl_file, or one holding only a comment, an anonymous QoS 1 PUBLISH to 'a'
        // got 0x87 (the fix of CVE-2018-12550: an empty file is not "no file").
        for text in ["", "# comment only", "\n\n"] {
            try Self.check(text, [
                Probe(nil, "a", publish: false, receive: false),
                Probe("u", "a", publish: false, receive: false),
                Probe(nil, "$SYS/x", publish: false, receive: false),
            ])
        }
    }

    @Test func withoutAListOnlyReservedTopicsAreRefused() {
        // Mosquitto without acl_file (MQTT 5, QoS 1): $SYS/x → 0x87, $SYS/broker/connection/x/state → 0x10,
        // $share/g/x → 0x87, $foo/x → 0x10, a/b → 0x10; a QoS 0 PUBLISH to $SYS/y was dropped, the connection
        // stayed open.
        let rules = ClientAccessRules.unrestricted
        #expect(!rules.mayPublish(topic: "$SYS/x"))
        #expect(rules.mayPublish(topic: "$SYS/broker/connection/x/state"))
        #expect(!rules.mayPublish(topic: "$SYS/broker/connection/x/state/more"))
        #expect(!rules.mayPublish(topic: "$share/g/x"))
        #expect(rules.mayPublish(topic: "$foo/x"))
        #expect(rules.mayPublish(topic: "a/b"))
        for topic in ["$SYS/x", "$foo/x", "a/b", "$share/g/x"] {
            #expect(rules.mayReceive(topic: topic))
        }
        #expect(rules.maySubscribe(filter: "#", check: .strict))
    }

    @Test(arguments: [
        ("$SYS", true), ("$SYS/", true), ("$SYS/a/b", true), ("$SYSTEM", true), ("$SYSx/a", true),
        ("$share", true), ("$share/g/a", true), ("$shared/a", true), ("$sharex", true),
        ("$SYS/broker/connection/a/state", false), ("$SYS/broker/connection//state", false),
        ("$SYS/broker/connection/a/b/state", true), ("$SYS/broker/connection/a", true),
        ("$sys/x", false), ("$Share/x", false), ("$", false), ("$foo", false), ("SYS/x", false),
        ("a/$SYS", false), ("/$SYS", false), ("share", false),
    ])
    func reservedTopics(_ topic: String, _ reserved: Bool) {
        #expect(ReservedTopic.forbidsPublishing(topic) == reserved)
    }

    // MARK: Subscriptions

    @Test func mosquittoGrantsEverySubscription() throws {
        // Mosquitto with an empty acl_file (which denies every topic), a raw client subscribing at QoS 1:
        // 'nothing/#', '$SYS/#', '$share/g/x' and '#' were all granted, SUBACK 0x01, over MQTT 5 and 3.1.1.
        // With `topic read a/#`, SUBACK 0 for '#' and 'b/#' (see anonymousRulesAndReadFiltering).
        let empty = try AccessControlList(parsing: "", path: "acl")
        for filter in ["nothing/#", "$SYS/#", "$share/g/x", "#"] {
            #expect(empty.maySubscribe(filter: filter, clientID: "c", username: nil))
            #expect(empty.maySubscribe(filter: filter, clientID: "c", username: nil, check: .mosquitto))
            #expect(!empty.maySubscribe(filter: filter, clientID: "c", username: nil, check: .strict))
        }
    }

    static let strictSubscriptions: [(filter: String, granted: Bool)] = [
        ("#", true),  // a/... and p/... can be received
        ("a/#", true),
        ("a/+", true),
        ("a", true),
        ("+/1", true),
        ("a/secret/#", false),  // entirely denied
        ("a/secret/x", false),
        ("a/secret", false),  // `a/secret/#` also denies its parent level
        ("a/secret/+/x", false),
        ("b/#", false),  // nothing readable
        ("b", false),
        ("$SYS/#", false),  // '#' rules do not reach '$SYS'
        ("$app/#", true),
        ("$app/x/y", true),
        ("+/x", true),  // a/x
        ("c/me/#", true),  // %c substituted
        ("c/other/#", false),
        ("p/#", true),  // pattern grant
        ("p/hidden/#", false),  // covered by the pattern denial
        ("$share/g/a/#", true),  // the filter after the share name counts
        ("$share/g/b/#", false),
        ("q/x", true),  // own grant, pattern denial of q/# does not win over it
    ]

    @Test(arguments: strictSubscriptions.indices)
    func strictSubscriptionCheck(_ row: Int) throws {
        let (filter, granted) = Self.strictSubscriptions[row]
        let acl = try AccessControlList(parsing: """
            user u
            topic read a/#
            topic deny a/secret/+
            topic deny a/secret/#
            topic read $app/#
            topic read q/x
            topic write b/#
            pattern read c/%c/#
            pattern read p/#
            pattern deny p/hidden/#
            pattern deny q/#
            """, path: "acl")
        let rules = acl.rules(clientID: "me", username: "u")
        #expect(rules.maySubscribe(filter: filter, check: .strict) == granted)
        #expect(rules.maySubscribe(filter: filter))  // Mosquitto's way: always granted
    }

    @Test func rulesOfOneClientAreCompiledOnce() throws {
        let acl = try AccessControlList(parsing: "user u\ntopic read a/#\npattern readwrite d/%c/%u/#", path: "acl")
        let rules = acl.rules(clientID: "c1", username: "u")
        #expect(rules.ownReadable == ["a/#"])
        #expect(rules.patternReadable == ["d/c1/u/#"])
        #expect(rules.patternWritable == ["d/c1/u/#"])
        #expect(rules.patternDenied.isEmpty)
        #expect(rules == acl.rules(clientID: "c1", username: "u"))
        #expect(rules != acl.rules(clientID: "c2", username: "u"))
        #expect(acl.rules(clientID: "c+", username: "u").patternReadable.isEmpty)
        #expect(acl.rules(clientID: "c", username: "#").patternReadable.isEmpty)
    }
}
