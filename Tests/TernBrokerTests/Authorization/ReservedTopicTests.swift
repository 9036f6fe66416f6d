import Testing

@testable import TernBroker

/// The topics no client may publish to (Mosquitto 2.0's `acl__check_dollar`), decided from the first byte on for
/// every PUBLISH, and the delivery check's flag for a client without rules.
@Suite struct ReservedTopicTests {
    @Test("$SYS and $share prefixes are refused, a bridge's connection state and other topics are not", arguments: [
        ("$SYS/broker/uptime", true), ("$SYS", true), ("$SYSx/a", true), ("$SYSTEM/x", true),
        ("$share/group/a", true), ("$shared/a", true), ("$share", true),
        ("$SYS/broker/connection/bridge-1/state", false), ("$SYS/broker/connection/a/b/state", true),
        ("$app/x", false), ("$", false), ("$S", false), ("a/$SYS", false), ("sensors/1", false), ("", false),
        ("\u{00E9}/$SYS", false),
    ])
    func forbidsPublishing(topic: String, forbidden: Bool) {
        #expect(ReservedTopic.forbidsPublishing(topic) == forbidden)
        // A client without rules may publish exactly where no reserved prefix forbids it.
        #expect(ClientAccessRules.unrestricted.mayPublish(topic: topic) == !forbidden)
    }

    @Test("a client without rules receives every topic, $SYS included")
    func unrestrictedReceivesEverything() {
        for topic in ["$SYS/broker/uptime", "a/b", "$share/g/a", ""] {
            #expect(ClientAccessRules.unrestricted.mayReceive(topic: topic))
        }
    }
}
