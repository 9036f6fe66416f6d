extension BrokerConfiguration {
    /// Mosquitto's in-memory database saved to disk (`persistence`, `persistence_location`, `persistence_file`,
    /// `autosave_interval`). Tern's own store will read these to choose where it keeps its data.
    public struct Persistence: Sendable, Equatable {
        public var enabled: Bool
        /// Absolute directory of the database; nil means the current directory at load time.
        public var location: String?
        /// File name of the database inside `location`.
        public var file: String
        /// Seconds between saves; 0 saves only at shutdown.
        public var autosaveInterval: Int

        public init(enabled: Bool = false, location: String? = nil, file: String = "mosquitto.db",
                    autosaveInterval: Int = 1800)
        {
            self.enabled = enabled
            self.location = location
            self.file = file
            self.autosaveInterval = autosaveInterval
        }
    }
}
