import NIOCore

/// CONNECT: the first packet a client sends (section 3.1).
public struct ConnectPacket: Hashable, Sendable, CustomStringConvertible {
    /// The protocol version; it also fixes the protocol name (`MQIsdp` for 3.1, `MQTT` otherwise).
    public var protocolVersion: ProtocolVersion
    /// Clean Start in MQTT 5.0, Clean Session in 3.1 and 3.1.1.
    public var cleanStart: Bool
    /// Keep alive in seconds; 0 turns the keep-alive mechanism off.
    public var keepAlive: UInt16
    /// May be empty (the server then assigns one, or refuses, depending on version and session flags).
    public var clientIdentifier: String
    public var will: LastWill?
    public var username: String?
    public var password: ByteBuffer?
    /// MQTT 5.0 CONNECT properties.
    public var properties: Properties

    public init(
        protocolVersion: ProtocolVersion = .v5,
        cleanStart: Bool = true,
        keepAlive: UInt16 = 60,
        clientIdentifier: String,
        will: LastWill? = nil,
        username: String? = nil,
        password: ByteBuffer? = nil,
        properties: Properties = []
    ) {
        self.protocolVersion = protocolVersion
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.clientIdentifier = clientIdentifier
        self.will = will
        self.username = username
        self.password = password
        self.properties = properties
    }

    public var description: String {
        var parts = [
            "v\(protocolVersion)", "id=\(clientIdentifier)", "clean=\(cleanStart)", "keepAlive=\(keepAlive)",
        ]
        if let will { parts.append("will=\(will)") }
        if let username { parts.append("user=\(username)") }
        if password != nil { parts.append("password=<\(password!.readableBytes) bytes>") }
        if !properties.isEmpty { parts.append("properties=\(properties)") }
        return parts.joined(separator: " ")
    }
}

/// The Will Message of a CONNECT: published by the server when the connection ends without a normal DISCONNECT.
public struct LastWill: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    /// MQTT 5.0 Will Properties (Will Delay Interval, message properties, user properties).
    public var properties: Properties

    public init(topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false,
                properties: Properties = [])
    {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }

    public var description: String {
        "\(topic) \(qos) retain=\(retain) <\(payload.readableBytes) bytes>"
            + (properties.isEmpty ? "" : " \(properties)")
    }
}
