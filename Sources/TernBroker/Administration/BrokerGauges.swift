/// Totals read for a metrics scrape, on the broker's event loop.
public struct BrokerGauges: Sendable, Hashable {
    public var connectedClients = 0
    public var sessions = 0
    public var subscriptions = 0
    public var retainedMessages = 0
    /// Outbound QoS 1 and 2 messages in flight, over every session.
    public var inflightMessages = 0
    /// Messages queued, over every session.
    public var queuedMessages = 0
    /// Of those, messages in the store only, not in memory (see `BrokerSettings.queuePageSize`).
    public var queuedMessagesInStoreOnly = 0
}
