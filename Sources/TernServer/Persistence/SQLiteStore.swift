import Foundation
import GRDB
import GRDBSQLite
import MQTTCore
import NIOCore
import TernBroker

/// The broker's durable state in one SQLite database (through GRDB), in write-ahead-log mode.
///
/// Each `commit` is one transaction; with `synchronous` FULL (the default) SQLite syncs the log before the
/// commit returns, so what a commit covered survives `kill -9` and power loss. The server calls `commit` from
/// one writer thread with whatever batches are pending, so one sync covers many clients (group commit).
///
/// The schema is versioned by GRDB's migrator; a database migrated by a newer Tern is refused, and so is a file
/// that is not a SQLite database or fails its quick check: the broker stops rather than start empty.
public final class SQLiteStore: BrokerStore, Sendable {
    /// How hard SQLite works to make a commit durable (`PRAGMA synchronous`).
    public enum SyncMode: String, Sendable, CaseIterable {
        /// The write-ahead log is synced at every commit: a commit survives power loss.
        case full
        /// Synced at checkpoints only: a commit survives a crash of the process, not of the machine.
        case normal
        /// Never synced: the operating system decides.
        case off
    }

    /// The file name of the database inside the data directory.
    public static let fileName = "tern.sqlite"

    public let path: String
    private let database: DatabaseQueue

    /// Opens (creating if needed) the store in `directory`.
    public init(directory: String, syncMode: SyncMode = .full) throws(StoreError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.unwritable, "cannot create the data directory \(directory): \(Self.reason(error))")
        }
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw StoreError(.unwritable, "the data directory \(directory) is not writable")
        }
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        self.path = path
        if FileManager.default.fileExists(atPath: path) && !FileManager.default.isWritableFile(atPath: path) {
            throw StoreError(.unwritable, "the store \(path) is not writable")
        }
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.label = "tern-store"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(syncMode.rawValue.uppercased())")
        }
        do {
            database = try DatabaseQueue(path: path, configuration: configuration)
            try database.read { db in
                let check = try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "no answer"
                guard check == "ok" else {
                    throw StoreError(.corrupt, "the store \(path) is damaged (quick_check: \(check))")
                }
                let migrator = Self.migrator
                if try migrator.hasBeenSuperseded(db) {
                    throw StoreError(.newerVersion, """
                        the store \(path) was written by a newer version of Tern (schema \
                        \(try migrator.appliedIdentifiers(db).sorted().joined(separator: ", "))); this version \
                        knows \(Self.migrationIdentifiers.joined(separator: ", ")) only
                        """)
                }
            }
            try Self.migrator.migrate(database)
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError {
            throw Self.storeError(error, path: path)
        } catch {
            throw StoreError(.other, "cannot open the store \(path): \(error)")
        }
    }

    static func reason(_ error: Error) -> String {
        (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
    }

    static func storeError(_ error: DatabaseError, path: String) -> StoreError {
        switch error.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return StoreError(.corrupt, """
                the store \(path) is not a Tern store or is damaged (\(error.message ?? "\(error.resultCode)")); \
                move it away to start with an empty store
                """)
        case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_IOERR:
            return StoreError(.unwritable, "the store \(path) cannot be written (\(error.message ?? "\(error)"))")
        case .SQLITE_FULL:
            return StoreError(.full, "the disk of the store \(path) is full")
        default:
            return StoreError(.other, "the store \(path): \(error)")
        }
    }

    static let migrationIdentifiers = ["v1", "v2"]

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE session (
                    client_id TEXT PRIMARY KEY NOT NULL,
                    protocol_version INTEGER NOT NULL,
                    expiry_interval INTEGER NOT NULL,
                    expires_at INTEGER,
                    will BLOB,
                    will_delay INTEGER,
                    delayed_will BLOB,
                    delayed_will_expires_at INTEGER,
                    delayed_will_at INTEGER
                ) WITHOUT ROWID;
                CREATE TABLE subscription (
                    client_id TEXT NOT NULL,
                    topic_filter TEXT NOT NULL,
                    qos INTEGER NOT NULL,
                    no_local INTEGER NOT NULL,
                    retain_as_published INTEGER NOT NULL,
                    retain_handling INTEGER NOT NULL,
                    identifier INTEGER,
                    PRIMARY KEY (client_id, topic_filter)
                ) WITHOUT ROWID;
                CREATE TABLE inflight (
                    client_id TEXT NOT NULL,
                    packet_id INTEGER NOT NULL,
                    sequence INTEGER NOT NULL,
                    released INTEGER NOT NULL,
                    qos INTEGER NOT NULL,
                    retain INTEGER NOT NULL,
                    message BLOB NOT NULL,
                    expires_at INTEGER,
                    publisher TEXT,
                    shared TEXT,
                    PRIMARY KEY (client_id, packet_id)
                ) WITHOUT ROWID;
                CREATE TABLE queued (
                    sequence INTEGER PRIMARY KEY,
                    client_id TEXT NOT NULL,
                    qos INTEGER NOT NULL,
                    retain INTEGER NOT NULL,
                    message BLOB NOT NULL,
                    expires_at INTEGER,
                    publisher TEXT,
                    shared TEXT
                );
                CREATE INDEX queued_by_client ON queued (client_id, sequence);
                CREATE TABLE inbound_qos2 (
                    client_id TEXT NOT NULL,
                    packet_id INTEGER NOT NULL,
                    PRIMARY KEY (client_id, packet_id)
                ) WITHOUT ROWID;
                CREATE TABLE retained (
                    topic TEXT PRIMARY KEY NOT NULL,
                    message BLOB NOT NULL,
                    expires_at INTEGER,
                    publisher TEXT
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2") { db in
            // Queues are read back a page at a time: their byte counts come from this column, not the blobs.
            try db.execute(sql: "ALTER TABLE queued ADD COLUMN payload_bytes INTEGER NOT NULL DEFAULT 0")
        }
        return migrator
    }

    // MARK: Loading

    public func loadSessions(queueHeadLimit: Int) throws -> [StoredSessionState] {
        try read { db in
            var states: [String: StoredSessionState] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM session") {
                let clientID: String = row["client_id"]
                var session = StoredSession(
                    clientID: clientID,
                    protocolVersion: ProtocolVersion(rawValue: row["protocol_version"]) ?? .v5,
                    expiryInterval: UInt32(truncatingIfNeeded: row["expiry_interval"] as Int64),
                    expiresAt: row["expires_at"])
                if let will: Data = row["will"] {
                    session.will = try StoredMessageCoding.decodeWill(
                        will, delay: (row["will_delay"] as Int64?).map { UInt32(truncatingIfNeeded: $0) })
                }
                if let will: Data = row["delayed_will"] {
                    session.delayedWill = try StoredMessageCoding.decodeMessage(
                        will, expiresAt: row["delayed_will_expires_at"], publisher: clientID)
                    session.delayedWillAt = row["delayed_will_at"]
                }
                states[clientID] = StoredSessionState(session: session)
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM subscription") {
                let clientID: String = row["client_id"]
                let options = SubscriptionOptions(
                    qos: QoS(rawValue: row["qos"]) ?? .atMostOnce, noLocal: row["no_local"],
                    retainAsPublished: row["retain_as_published"],
                    retainHandling: RetainHandling(rawValue: row["retain_handling"]) ?? .sendOnSubscribe)
                states[clientID]?.subscriptions.append(StoredSubscription(
                    topicFilter: row["topic_filter"], options: options,
                    identifier: (row["identifier"] as Int64?).map { UInt32(truncatingIfNeeded: $0) }))
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM inflight ORDER BY sequence") {
                let clientID: String = row["client_id"]
                guard states[clientID] != nil else { continue }
                states[clientID]!.inflight.append(StoredInflight(
                    packetIdentifier: UInt16(truncatingIfNeeded: row["packet_id"] as Int64),
                    order: UInt64(row["sequence"] as Int64), released: row["released"],
                    delivery: try Self.delivery(row)))
            }
            // The first `queueHeadLimit` messages of each queue; the rest is counted.
            let head = try Row.fetchCursor(db, sql: """
                SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY sequence) AS position
                               FROM queued)
                WHERE position <= ? ORDER BY sequence
                """, arguments: [Int64(clamping: queueHeadLimit)])
            while let row = try head.next() {
                let clientID: String = row["client_id"]
                guard states[clientID] != nil else { continue }
                states[clientID]!.queue.append(StoredQueuedMessage(
                    sequence: UInt64(row["sequence"] as Int64), delivery: try Self.delivery(row)))
            }
            if queueHeadLimit < Int.max {
                let rest = try Row.fetchAll(db, sql: """
                    SELECT client_id, COUNT(*) AS count, SUM(payload_bytes) AS bytes, MAX(sequence) AS last
                    FROM (SELECT client_id, sequence, payload_bytes,
                                 ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY sequence) AS position
                          FROM queued)
                    WHERE position > ? GROUP BY client_id
                    """, arguments: [Int64(queueHeadLimit)])
                for row in rest {
                    let clientID: String = row["client_id"]
                    states[clientID]?.unloadedQueue = StoredQueueExtent(
                        count: row["count"], payloadBytes: row["bytes"], lastSequence: UInt64(row["last"] as Int64))
                }
                let shared = try Row.fetchCursor(db, sql: """
                    SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY sequence) AS position
                                   FROM queued)
                    WHERE position > ? AND shared IS NOT NULL AND qos > 0 ORDER BY sequence
                    """, arguments: [Int64(queueHeadLimit)])
                while let row = try shared.next() {
                    let clientID: String = row["client_id"]
                    states[clientID]?.unloadedShared.append(StoredQueuedMessage(
                        sequence: UInt64(row["sequence"] as Int64), delivery: try Self.delivery(row)))
                }
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM inbound_qos2") {
                let clientID: String = row["client_id"]
                states[clientID]?.inboundQoS2.append(UInt16(truncatingIfNeeded: row["packet_id"] as Int64))
            }
            return states.keys.sorted().map { states[$0]! }
        }
    }

    private static func delivery(_ row: Row) throws -> StoredDelivery {
        try StoredMessageCoding.decodeDelivery(
            row["message"], qos: QoS(rawValue: row["qos"]) ?? .atMostOnce, retain: row["retain"],
            expiresAt: row["expires_at"], publisher: row["publisher"], shared: row["shared"])
    }

    public func sessionCount() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM session") ?? 0 }
    }

    public func loadRetained() throws -> [StoredMessage] {
        try read { db in
            var messages: [StoredMessage] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT * FROM retained")
            while let row = try rows.next() {
                messages.append(try StoredMessageCoding.decodeMessage(
                    row["message"], expiresAt: row["expires_at"], publisher: row["publisher"]))
            }
            return messages
        }
    }

    public func retainedCount() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM retained") ?? 0 }
    }

    public func queuedCount(clientID: String) throws -> Int {
        try read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM queued WHERE client_id = ?", arguments: [clientID]) ?? 0
        }
    }

    public func queuedMessages(clientID: String, after sequence: UInt64, limit: Int) throws
        -> [StoredQueuedMessage]
    {
        try read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT * FROM queued WHERE client_id = ? AND sequence > ? ORDER BY sequence LIMIT ?
                """), arguments: [clientID, Int64(sequence), Int64(limit)]).map { row in
                StoredQueuedMessage(sequence: UInt64(row["sequence"] as Int64), delivery: try Self.delivery(row))
            }
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try database.read(body)
        } catch let error as DatabaseError {
            throw Self.storeError(error, path: path)
        }
    }

    // MARK: Committing

    public func commit(_ changes: [StoreChange]) throws {
        do {
            try database.write { db in
                for change in changes { try Self.apply(change, db) }
            }
        } catch let error as DatabaseError {
            throw Self.storeError(error, path: path)
        }
    }

    private static func apply(_ change: StoreChange, _ db: Database) throws {
        func run(_ sql: String, _ arguments: StatementArguments) throws {
            try db.cachedStatement(sql: sql).execute(arguments: arguments)
        }
        switch change {
        case .sessionSaved(let session):
            let will = session.will.map(StoredMessageCoding.encode)
            try run("""
                INSERT OR REPLACE INTO session (client_id, protocol_version, expiry_interval, expires_at, will,
                    will_delay, delayed_will, delayed_will_expires_at, delayed_will_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [session.clientID, session.protocolVersion.rawValue, Int64(session.expiryInterval),
                      session.expiresAt, will?.data, will?.delay.map { Int64($0) },
                      session.delayedWill.map(StoredMessageCoding.encode), session.delayedWill?.expiresAt,
                      session.delayedWillAt])
        case .sessionDeleted(let clientID):
            for table in ["session", "subscription", "inflight", "queued", "inbound_qos2"] {
                try run("DELETE FROM \(table) WHERE client_id = ?", [clientID])
            }
        case .subscriptionSaved(let clientID, let subscription):
            try run("""
                INSERT OR REPLACE INTO subscription (client_id, topic_filter, qos, no_local, retain_as_published,
                    retain_handling, identifier)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [clientID, subscription.topicFilter, subscription.options.qos.rawValue,
                      subscription.options.noLocal, subscription.options.retainAsPublished,
                      subscription.options.retainHandling.rawValue, subscription.identifier.map { Int64($0) }])
        case .subscriptionDeleted(let clientID, let topicFilter):
            try run("DELETE FROM subscription WHERE client_id = ? AND topic_filter = ?", [clientID, topicFilter])
        case .inflightSaved(let clientID, let inflight):
            let delivery = inflight.delivery
            try BoundStatement(db, """
                INSERT OR REPLACE INTO inflight (client_id, packet_id, sequence, released, qos, retain, message,
                    expires_at, publisher, shared)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).run { bind in
                bind.text(clientID)
                bind.integer(Int64(inflight.packetIdentifier))
                bind.integer(Int64(inflight.order))
                bind.integer(inflight.released ? 1 : 0)
                bind.delivery(delivery)
            }
        case .inflightReleased(let clientID, let packetIdentifier):
            try run("UPDATE inflight SET released = 1 WHERE client_id = ? AND packet_id = ?",
                    [clientID, Int64(packetIdentifier)])
        case .inflightDeleted(let clientID, let packetIdentifier):
            try BoundStatement(db, "DELETE FROM inflight WHERE client_id = ? AND packet_id = ?").run { bind in
                bind.text(clientID)
                bind.integer(Int64(packetIdentifier))
            }
        case .messageQueued(let clientID, let queued):
            let delivery = queued.delivery
            try BoundStatement(db, """
                INSERT OR REPLACE INTO queued (sequence, client_id, qos, retain, message, expires_at, publisher,
                    shared, payload_bytes)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).run { bind in
                bind.integer(Int64(queued.sequence))
                bind.text(clientID)
                bind.delivery(delivery)
                bind.integer(Int64(delivery.message.payload.readableBytes))
            }
        case .messageDequeued(_, let sequence):
            try BoundStatement(db, "DELETE FROM queued WHERE sequence = ?").run { bind in
                bind.integer(Int64(sequence))
            }
        case .inboundQoS2Added(let clientID, let packetIdentifier):
            try run("INSERT OR IGNORE INTO inbound_qos2 (client_id, packet_id) VALUES (?, ?)",
                    [clientID, Int64(packetIdentifier)])
        case .inboundQoS2Removed(let clientID, let packetIdentifier):
            try run("DELETE FROM inbound_qos2 WHERE client_id = ? AND packet_id = ?",
                    [clientID, Int64(packetIdentifier)])
        case .retainedSet(let message):
            try run("INSERT OR REPLACE INTO retained (topic, message, expires_at, publisher) VALUES (?, ?, ?, ?)",
                    [message.topic, StoredMessageCoding.encode(message), message.expiresAt, message.publisher])
        case .retainedCleared(let topic):
            try run("DELETE FROM retained WHERE topic = ?", [topic])
        }
    }
}

/// A cached statement bound and run through SQLite's C interface, for the changes every QoS 1 and 2 message
/// makes (a delivery saved, then deleted). GRDB's `execute(arguments:)` boxes each argument in an existential
/// `DatabaseValueConvertible`, builds an array of them and validates it: under a durable fan-in load that was a
/// fifth of the broker's CPU, more than SQLite's own work.
private struct BoundStatement {
    let handle: SQLiteStatement
    let sql: String
    let db: Database

    init(_ db: Database, _ sql: String) throws {
        self.handle = try db.cachedStatement(sql: sql).sqliteStatement
        self.sql = sql
        self.db = db
    }

    /// Binds the parameters in order (`bind`), steps the statement to its end, and leaves it reset and unbound.
    func run(_ bind: (inout Bindings) -> Void) throws {
        sqlite3_reset(handle)
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }
        var bindings = Bindings(handle: handle)
        bind(&bindings)
        if let code = bindings.failure {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: sql)
        }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: sql)
        }
    }

    /// The next parameter's binder. SQLite copies every text and blob (`SQLITE_TRANSIENT`).
    struct Bindings {
        let handle: SQLiteStatement
        var index: Int32 = 1
        var failure: Int32?
        private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

        private mutating func check(_ code: Int32) {
            if code != SQLITE_OK && failure == nil { failure = code }
            index += 1
        }

        mutating func integer(_ value: Int64) {
            check(sqlite3_bind_int64(handle, index, value))
        }

        mutating func text(_ value: String?) {
            guard var text = value else { return null() }
            check(text.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { characters in
                    guard let start = characters.baseAddress else {
                        return sqlite3_bind_text(handle, index, "", 0, Self.transient)  // empty, not NULL
                    }
                    return sqlite3_bind_text(handle, index, start, Int32(characters.count), Self.transient)
                }
            })
        }

        mutating func blob(_ value: ByteBuffer) {
            check(value.withUnsafeReadableBytes { bytes in
                // A zero-length blob, not NULL, for an empty buffer (`message` is NOT NULL).
                sqlite3_bind_blob(handle, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                                  Int32(bytes.count), Self.transient)
            })
        }

        /// A delivery's columns, in the order both delivery tables use: qos, retain, message, expires_at,
        /// publisher, shared.
        mutating func delivery(_ delivery: StoredDelivery) {
            integer(Int64(delivery.qos.rawValue))
            integer(delivery.retain ? 1 : 0)
            var message = ByteBuffer()
            StoredMessageCoding.encode(delivery, into: &message)
            blob(message)
            if let expiresAt = delivery.message.expiresAt { integer(expiresAt) } else { null() }
            text(delivery.message.publisher)
            text(StoredMessageCoding.sharedName(delivery.sharedSubscription))
        }

        mutating func null() {
            check(sqlite3_bind_null(handle, index))
        }
    }
}
