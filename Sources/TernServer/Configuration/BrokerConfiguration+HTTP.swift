extension BrokerConfiguration {
    /// Tern's HTTP listener: `/health`, `/ready`, `/metrics`, the JSON admin API and the dashboard
    /// (docs/operations.md). Off unless `http_listener` is given.
    public struct HTTPSettings: Sendable, Equatable {
        /// `http_listener PORT [ADDRESS]`: where to listen; no address means every interface.
        public var port: Int
        public var address: String?
        /// `http_admin_users USER...`: users of the password file who may use the whole admin API.
        public var adminUsers: [String] = []
        /// `http_readonly_users USER...`: users of the password file who may read but change nothing.
        public var readOnlyUsers: [String] = []
        /// `http_admin_token TOKEN`: a bearer token with the admin role.
        public var adminToken: String?
        /// `http_readonly_token TOKEN`: a bearer token with the read-only role.
        public var readOnlyToken: String?
        /// `http_password_file PATH`: the password file the HTTP users log in with; the broker-wide
        /// `password_file` when not given.
        public var passwordFile: String?
        /// `http_certfile` and `http_keyfile`: PEM files that turn the listener into HTTPS.
        public var certificateFile: String?
        public var keyFile: String?
        /// `http_protect_metrics true`: `/metrics` and `/health` want credentials too (default false: scrapers
        /// and probes read them without).
        public var protectMetrics = false

        public init(port: Int, address: String? = nil) {
            self.port = port
            self.address = address
        }

        /// Whether any way to log in is configured.
        public var hasCredentials: Bool {
            !adminUsers.isEmpty || !readOnlyUsers.isEmpty || adminToken != nil || readOnlyToken != nil
        }

        /// Whether the listener is bound to a loopback address only.
        public var isLoopback: Bool {
            guard let address else { return false }
            return address == "localhost" || address == "::1" || address.hasPrefix("127.")
        }
    }
}
