import Foundation
import GRDB
import MQTTCore
import NIOCore
import TernBroker
import TernServer
import Testing

@Suite("SQLite store")
struct SQLiteStoreTests {
    static let message = StoredMessage(
        topic: "a/b", payload: ByteBuffer(string: "payload"), qos: .exactlyOnce, retain: true,
        properties: [.contentType("text/plain"), .userProperty(UserProperty("k", "v"))], expiresAt: 1_700_000_000_000,
        publisher: "pub")

    /// One change of every kind, as a broker would record them.
    static let changes: [StoreChange] = {
        let delivery = StoredDelivery(message: message, qos: .atLeastOnce, retain: false,
                                      subscriptionIdentifiers: [3, 4],
                                      sharedSubscription: SharedSubscription(shareName: "g", topicFilter: "a/#"))
        let will = LastWill(topic: "wills/x", payload: ByteBuffer(string: "bye"), qos: .atLeastOnce, retain: true,
                            properties: [.willDelayInterval(5), .messageExpiryInterval(60)])
        // Every optional column empty: no expiry, publisher or shared subscription, an empty payload.
        let bare = StoredDelivery(message: StoredMessage(topic: "t", payload: ByteBuffer(), qos: .atLeastOnce,
                                                         retain: false),
                                  qos: .atLeastOnce, retain: true)
        var delayedWill = message
        delayedWill.publisher = "y"  // a will is its own client's
        return [
            .sessionSaved(StoredSession(clientID: "x", protocolVersion: .v5, expiryInterval: 60, will: will)),
            .sessionSaved(StoredSession(clientID: "y", protocolVersion: .v3_1_1, expiryInterval: UInt32.max,
                                        expiresAt: 42, delayedWill: delayedWill, delayedWillAt: 99)),
            .subscriptionSaved(clientID: "x", StoredSubscription(
                topicFilter: "$share/g/a/#", options: SubscriptionOptions(qos: .exactlyOnce, retainAsPublished: true,
                                                                          retainHandling: .doNotSend),
                identifier: 3)),
            .subscriptionSaved(clientID: "x", StoredSubscription(topicFilter: "gone", options: SubscriptionOptions())),
            .subscriptionDeleted(clientID: "x", topicFilter: "gone"),
            .inflightSaved(clientID: "x", StoredInflight(packetIdentifier: 7, order: 10, released: false,
                                                         delivery: delivery)),
            .inflightSaved(clientID: "x", StoredInflight(packetIdentifier: 8, order: 11, released: false,
                                                         delivery: delivery)),
            .inflightSaved(clientID: "x", StoredInflight(packetIdentifier: 9, order: 12, released: false,
                                                         delivery: delivery)),
            .inflightReleased(clientID: "x", packetIdentifier: 8),
            .inflightDeleted(clientID: "x", packetIdentifier: 9),
            .messageQueued(clientID: "x", StoredQueuedMessage(sequence: 13, delivery: delivery)),
            .messageQueued(clientID: "x", StoredQueuedMessage(sequence: 14, delivery: delivery)),
            .messageQueued(clientID: "y", StoredQueuedMessage(sequence: 15, delivery: delivery)),
            .messageDequeued(clientID: "x", sequence: 13),
            .inflightSaved(clientID: "y", StoredInflight(packetIdentifier: 1, order: 17, released: false,
                                                         delivery: bare)),
            .messageQueued(clientID: "y", StoredQueuedMessage(sequence: 18, delivery: bare)),
            .inboundQoS2Added(clientID: "y", packetIdentifier: 1),
            .inboundQoS2Added(clientID: "y", packetIdentifier: 2),
            .inboundQoS2Removed(clientID: "y", packetIdentifier: 1),
            .retainedSet(message),
            .retainedSet(StoredMessage(topic: "other", payload: ByteBuffer(string: "o"), qos: .atMostOnce,
                                       retain: true)),
            .retainedCleared(topic: "other"),
            .sessionSaved(StoredSession(clientID: "z", protocolVersion: .v5, expiryInterval: 1)),
            .messageQueued(clientID: "z", StoredQueuedMessage(sequence: 16, delivery: delivery)),
            .sessionDeleted(clientID: "z"),
        ]
    }()

    @Test("every kind of change reads back as the in-memory store has it, after reopening")
    func roundTrip() throws {
        let directory = try TemporaryDirectory()
        let reference = InMemoryStore()
        try reference.commit(Self.changes)
        do {
            let store = try SQLiteStore(directory: directory.path)
            try store.commit(Array(Self.changes.prefix(10)))
            try store.commit(Array(Self.changes.dropFirst(10)))
        }
        let reopened = try SQLiteStore(directory: directory.path)
        let loaded = try reopened.loadSessions(), expected = try reference.loadSessions()
        #expect(loaded.map(\.session) == expected.map(\.session))
        #expect(loaded.map(\.subscriptions) == expected.map(\.subscriptions))
        #expect(loaded.map(\.inflight) == expected.map(\.inflight))
        #expect(loaded.map(\.queue) == expected.map(\.queue))
        #expect(loaded.map(\.inboundQoS2) == expected.map(\.inboundQoS2))
        #expect(try reopened.loadRetained() == reference.loadRetained())
        #expect(try reopened.queuedCount(clientID: "x") == 1)
        #expect(try reopened.loadSessions().first?.inflight.map(\.released) == [false, true])
    }

    @Test("changes applied twice (a retried commit) leave the same state")
    func idempotent() throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteStore(directory: directory.path)
        try store.commit(Self.changes)
        let once = try store.loadSessions()
        try store.commit(Self.changes)
        #expect(try store.loadSessions() == once)
    }

    @Test("the store is in WAL mode with synchronous FULL")
    func pragmas() throws {
        let directory = try TemporaryDirectory()
        _ = try SQLiteStore(directory: directory.path)
        let database = try DatabaseQueue(path: directory.path + "/" + SQLiteStore.fileName)
        #expect(try database.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
    }

    @Test("a store written by a newer Tern is refused with a message that says so")
    func newerVersion() throws {
        let directory = try TemporaryDirectory()
        _ = try SQLiteStore(directory: directory.path)
        let database = try DatabaseQueue(path: directory.path + "/" + SQLiteStore.fileName)
        try database.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99')")
        }
        let error = #expect(throws: StoreError.self) { try SQLiteStore(directory: directory.path) }
        #expect(error?.kind == .newerVersion)
        #expect(error?.message.contains("newer version of Tern") == true)
    }

    @Test("a file that is not a SQLite database is refused, not replaced")
    func corruptFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/" + SQLiteStore.fileName
        let garbage = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: StoreError.self) { try SQLiteStore(directory: directory.path) }
        #expect(error?.kind == .corrupt)
        #expect(error?.message.contains(path) == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == garbage)
    }

    @Test("a data directory that cannot be created is refused")
    func unwritableDirectory() throws {
        let directory = try TemporaryDirectory()
        try Data("a file".utf8).write(to: URL(fileURLWithPath: directory.path + "/file"))
        let error = #expect(throws: StoreError.self) { try SQLiteStore(directory: directory.path + "/file/data") }
        #expect(error?.kind == .unwritable)
    }
}
