extension BrokerConfiguration {
    /// Who may connect and what identifiers they get: the settings that `per_listener_settings` makes per listener.
    ///
    /// This value only says what the file asks for; reading the password and ACL files, and checking clients
    /// against them, belongs to the authentication code.
    public struct Security: Sendable, Equatable {
        /// Whether clients that give no user name may connect (`allow_anonymous`). Defaults to false when the file
        /// defines a listener, to true otherwise (Mosquitto 2.0's local-only mode, loopback addresses only).
        public var allowAnonymous: Bool
        /// Absolute path of the password file (`password_file`), as written by `mosquitto_passwd`.
        public var passwordFile: String?
        /// Absolute path of the access control list file (`acl_file`).
        public var aclFile: String?
        /// Prefix of the client identifiers the broker assigns (`auto_id_prefix`); Mosquitto's default `auto-`.
        public var autoIDPrefix: String
        /// Whether a client may connect with an empty client identifier and get one assigned
        /// (`allow_zero_length_clientid`).
        public var allowZeroLengthClientID: Bool
        /// Whether a client's user name replaces the client identifier it sent (`use_username_as_clientid`), so
        /// that one user cannot take over another's session; clients without a user name are refused.
        public var useUsernameAsClientID: Bool

        public init(allowAnonymous: Bool = false, passwordFile: String? = nil, aclFile: String? = nil,
                    autoIDPrefix: String = "auto-", allowZeroLengthClientID: Bool = true,
                    useUsernameAsClientID: Bool = false)
        {
            self.allowAnonymous = allowAnonymous
            self.passwordFile = passwordFile
            self.aclFile = aclFile
            self.autoIDPrefix = autoIDPrefix
            self.allowZeroLengthClientID = allowZeroLengthClientID
            self.useUsernameAsClientID = useUsernameAsClientID
        }
    }
}
