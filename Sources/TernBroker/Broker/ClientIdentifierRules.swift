/// What a listener allows for client identifiers (Mosquitto's `allow_zero_length_clientid`, `auto_id_prefix` and
/// `use_username_as_clientid`, per listener with `per_listener_settings true`); connections without their own rules
/// use `BrokerSettings`.
public struct ClientIdentifierRules: Sendable, Hashable {
    /// Whether a client may connect with an empty client identifier and get one assigned.
    public var allowZeroLength: Bool
    /// Prefix of the identifiers the broker assigns.
    public var assignedPrefix: String
    /// Whether the client's user name replaces the identifier it sent (Mosquitto's `use_username_as_clientid`);
    /// a client without a user name is then refused as not authorized.
    public var usesUsername: Bool

    public init(allowZeroLength: Bool, assignedPrefix: String, usesUsername: Bool = false) {
        self.allowZeroLength = allowZeroLength
        self.assignedPrefix = assignedPrefix
        self.usesUsername = usesUsername
    }
}
