/// What the server counts on the wire and the broker core does not see: bytes and MQTT packets of every type,
/// and accepted sockets. Plain integers bumped on the broker's event loop.
public struct WireTraffic: Sendable, Hashable {
    public var bytesReceived = 0
    public var bytesSent = 0
    /// MQTT packets of every type.
    public var packetsReceived = 0
    public var packetsSent = 0
    /// Network connections accepted, whether or not they went on to CONNECT.
    public var socketsOpened = 0

    public init() {}
}
