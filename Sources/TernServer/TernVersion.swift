/// The version of Tern, as `$SYS/broker/version` and the admin API report it.
public enum TernVersion {
    public static let number = "0.1.0"
    /// `$SYS/broker/version`'s text, in Mosquitto's form ("mosquitto version 2.0.11").
    public static let systemTopicText = "tern version \(number)"
}
