import MQTTCore

/// Where the broker core's decisions go: the server layer implements it over network channels, tests record.
///
/// Calls happen synchronously inside the broker's entry points. `send` queues a packet for the connection (the
/// server flushes once per event-loop tick); `close` ends the connection after what was queued is written.
public protocol BrokerOutput {
    mutating func send(_ packet: Packet, to connection: ConnectionID)
    /// Queues a PUBLISH for the connection. By default it is built as a packet and goes through `send(_:to:)`;
    /// the server encodes it straight from the message instead (`OutgoingPublish.encode(into:version:)`).
    mutating func send(_ publish: OutgoingPublish, to connection: ConnectionID)
    mutating func close(_ connection: ConnectionID)
    /// Checks a CONNECT's credentials; the answer comes back through `Broker.authenticationCompleted`.
    mutating func authenticate(_ request: AuthenticationRequest)
    /// Whether the connection takes more writes now; false while its client does not read what was sent (a slow
    /// consumer): QoS 0 messages for it are then dropped, QoS 1 and 2 wait within the session's limits.
    func isWritable(_ connection: ConnectionID) -> Bool
    /// Stops reading the connection (publisher flow control) until `resumeReading`; TCP then slows its client.
    mutating func pauseReading(_ connection: ConnectionID)
    mutating func resumeReading(_ connection: ConnectionID)
}

extension BrokerOutput {
    public mutating func send(_ publish: OutgoingPublish, to connection: ConnectionID) {
        send(.publish(publish.packet), to: connection)
    }

    public func isWritable(_ connection: ConnectionID) -> Bool { true }

    public mutating func pauseReading(_ connection: ConnectionID) {}

    public mutating func resumeReading(_ connection: ConnectionID) {}
}
