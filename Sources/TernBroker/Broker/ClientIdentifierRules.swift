/// What a listener allows for client identifiers (Mosquitto's `allow_zero_length_clientid` and `auto_id_prefix`,
/// per listener with `per_listener_settings true`); connections without their own rules use `BrokerSettings`.
public struct ClientIdentifierRules: Sendable, Hashable {
    /// Whether a client may connect with an empty client identifier and get one assigned.
    public var allowZeroLength: Bool
    /// Prefix of the identifiers the broker assigns.
    public var assignedPrefix: String

    public init(allowZeroLength: Bool, assignedPrefix: String) {
        self.allowZeroLength = allowZeroLength
        self.assignedPrefix = assignedPrefix
    }
}
