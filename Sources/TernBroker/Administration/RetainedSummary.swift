/// A retained message as the admin API shows it.
public struct RetainedSummary: Sendable, Hashable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
}
