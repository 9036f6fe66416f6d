extension BrokerConfiguration {
    /// Where the broker logs and what (`log_dest`, `log_type`, `connection_messages`).
    public struct LogSettings: Sendable, Equatable {
        /// A `log_dest` value.
        public enum Destination: Sendable, Equatable, Hashable {
            case stdout
            case stderr
            case syslog
            /// `$SYS/broker/log/<severity>` topics.
            case topic
            /// The automotive Diagnostic Log and Trace daemon.
            case dlt
            /// A file, absolute path (`log_dest file PATH`).
            case file(String)
        }

        /// A `log_type` value (`none` and `all` are not types: they empty or fill the set).
        public enum Kind: String, Sendable, Equatable, Hashable, CaseIterable {
            case debug, error, warning, notice, information, subscribe, unsubscribe, websockets, `internal`
        }

        /// In the order written; empty after `log_dest none`. Defaults to standard error.
        public var destinations: [Destination]
        /// Defaults to error, warning, notice and information.
        public var kinds: Set<Kind>
        /// Whether connects and disconnects are logged (`connection_messages`).
        public var connectionMessages: Bool
        /// `log_format` (Tern): one line of text per entry, or one JSON object per line.
        public var format: Format = .text
        /// `log_timestamp`: whether text lines and `log_dest topic` payloads start with the time.
        public var timestamps = true
        /// `log_timestamp_format`: the time as `strftime` formats it (local time); nil for Tern's own
        /// `%Y-%m-%dT%H:%M:%S%z` in text lines and Mosquitto's seconds since 1970 in `log_dest topic` payloads.
        public var timestampFormat: String?

        /// A `log_format` value.
        public enum Format: String, Sendable, Equatable {
            case text, json
        }

        public init(destinations: [Destination] = [.stderr],
                    kinds: Set<Kind> = [.error, .warning, .notice, .information], connectionMessages: Bool = true)
        {
            self.destinations = destinations
            self.kinds = kinds
            self.connectionMessages = connectionMessages
        }
    }
}
