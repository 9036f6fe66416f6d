extension BrokerConfiguration {
    /// Where and how the broker keeps its state: Mosquitto's `persistence`, `persistence_location`,
    /// `persistence_file`, `autosave_interval`, and Tern's `persistence_commit_window` and `persistence_sync`.
    ///
    /// Unlike Mosquitto, persistence is on unless the file says `persistence false`: the state lives in a SQLite
    /// store (`tern.sqlite`) in `location`, `./tern-data` by default (see docs/persistence.md).
    public struct Persistence: Sendable, Equatable {
        public var enabled: Bool
        /// Absolute directory of the store; nil means `tern-data` in the current directory.
        public var location: String?
        /// Mosquitto's database file name; parsed, not used: Tern's store is always `tern.sqlite`.
        public var file: String
        /// Mosquitto's seconds between saves; parsed, not used: Tern commits every change before acknowledging.
        public var autosaveInterval: Int
        /// How long the store writer waits for more changes to join a commit, in milliseconds.
        public var commitWindowMilliseconds: Int
        /// How hard each commit is synced to disk.
        public var sync: SQLiteStore.SyncMode
        /// `queue_page_size` (Tern's): queued messages of a stored session kept in memory; the rest is read back
        /// from the store this many at a time. 0 keeps whole queues in memory.
        public var queuePageSize: Int

        public init(enabled: Bool = true, location: String? = nil, file: String = "mosquitto.db",
                    autosaveInterval: Int = 1800, commitWindowMilliseconds: Int = 0,
                    sync: SQLiteStore.SyncMode = .full, queuePageSize: Int = 100)
        {
            self.queuePageSize = queuePageSize
            self.enabled = enabled
            self.location = location
            self.file = file
            self.autosaveInterval = autosaveInterval
            self.commitWindowMilliseconds = commitWindowMilliseconds
            self.sync = sync
        }

        /// The directory of the store: `location`, or `tern-data` in the current directory.
        public var directory: String { location ?? "tern-data" }
    }
}
