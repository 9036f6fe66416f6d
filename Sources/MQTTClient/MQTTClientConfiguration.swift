import MQTTCore
import NIOCore
import NIOSSL

/// Everything a client needs to reach a server and open its session.
public struct MQTTClientConfiguration: Sendable {
    /// How bytes travel to the server.
    public enum Transport: String, Sendable, Hashable {
        /// Plain TCP (default port 1883).
        case tcp
        /// TLS over TCP (default port 8883); see ``MQTTClientConfiguration/tls``.
        case tls
        /// MQTT over WebSocket, `ws://` (default port 80); see ``MQTTClientConfiguration/webSocketPath``.
        case webSocket
        /// MQTT over WebSocket over TLS, `wss://` (default port 443).
        case secureWebSocket

        /// True for the transports that use TLS.
        public var usesTLS: Bool { self == .tls || self == .secureWebSocket }
        /// The port used when none is given.
        public var defaultPort: Int {
            switch self {
            case .tcp: 1883
            case .tls: 8883
            case .webSocket: 80
            case .secureWebSocket: 443
            }
        }
    }

    /// Automatic reconnection: after a lost connection, try again after `initialDelay`, doubling the delay up to
    /// `maximumDelay`; once connected, subscriptions are made again unless the server resumed the session.
    public struct Reconnection: Sendable, Hashable {
        public var initialDelay: TimeAmount
        public var maximumDelay: TimeAmount

        public init(initialDelay: TimeAmount = .milliseconds(500), maximumDelay: TimeAmount = .seconds(30)) {
            self.initialDelay = initialDelay
            self.maximumDelay = maximumDelay
        }
    }

    public var host: String
    public var port: Int
    public var transport: Transport
    /// TLS settings for `.tls` and `.secureWebSocket`: trust roots, client certificate and key (mutual TLS),
    /// verification. The default verifies the server against the system's trust store.
    public var tls: TLSConfiguration
    /// The server name sent in SNI and checked against the certificate; `host` when nil.
    public var tlsServerName: String?
    /// The HTTP path of the WebSocket endpoint.
    public var webSocketPath: String

    public var protocolVersion: ProtocolVersion
    /// Empty asks the server to assign one (MQTT 5.0, or 3.1.1 with a clean session).
    public var clientIdentifier: String
    /// Clean Start (5.0) or Clean Session (3.1.1).
    public var cleanStart: Bool
    /// Seconds; 0 turns keep alive off. The server's Server Keep Alive, if any, replaces it.
    public var keepAlive: UInt16
    /// MQTT 5.0 Session Expiry Interval in seconds (nil: 0, the session ends with the connection).
    public var sessionExpiryInterval: UInt32?
    public var username: String?
    public var password: ByteBuffer?
    /// MQTT 5.0 enhanced authentication (section 4.12), e.g. ``SCRAMAuthenticator``: its method and data go in
    /// CONNECT, and ``MQTTClient/reauthenticate()`` repeats the exchange on the open connection.
    public var authenticator: (any MQTTAuthenticator)?
    public var will: LastWill?
    /// User properties sent in CONNECT (MQTT 5.0).
    public var userProperties: [UserProperty]
    /// Our Receive Maximum: how many QoS 1 and 2 messages the server may have unacknowledged towards us.
    public var receiveMaximum: UInt16
    /// The largest packet we accept; sent as Maximum Packet Size (MQTT 5.0) when below the protocol's limit.
    public var maximumPacketSize: Int
    /// The largest topic alias the server may use towards us (MQTT 5.0).
    public var topicAliasMaximum: UInt16
    /// Replace repeated topics by topic aliases when the server allows them (MQTT 5.0).
    public var sendsTopicAliases: Bool
    /// Ask for Response Information in CONNACK (MQTT 5.0), used by ``MQTTClient/request(topic:payload:qos:timeout:)``.
    public var requestResponseInformation: Bool
    /// How long to wait for the connection and CONNACK.
    public var connectTimeout: TimeAmount
    /// Automatic reconnection, off when nil.
    public var reconnection: Reconnection?
    /// How many received messages one subscription stream holds before the client stops reading from the
    /// connection until its consumer catches up (see ``MQTTSubscription``). The bound is approximate: the
    /// messages of a read already under way are still added.
    public var subscriptionBufferLimit: Int

    public init(host: String = "127.0.0.1", port: Int? = nil, transport: Transport = .tcp,
                protocolVersion: ProtocolVersion = .v5, clientIdentifier: String = "")
    {
        self.host = host
        self.port = port ?? transport.defaultPort
        self.transport = transport
        self.tls = .makeClientConfiguration()
        self.tlsServerName = nil
        self.webSocketPath = "/mqtt"
        self.protocolVersion = protocolVersion
        self.clientIdentifier = clientIdentifier
        self.cleanStart = true
        self.keepAlive = 60
        self.sessionExpiryInterval = nil
        self.username = nil
        self.password = nil
        self.authenticator = nil
        self.will = nil
        self.userProperties = []
        self.receiveMaximum = 65_535
        self.maximumPacketSize = MQTTPacketDecoder.largestPossiblePacketSize
        self.topicAliasMaximum = 10
        self.sendsTopicAliases = false
        self.requestResponseInformation = false
        self.connectTimeout = .seconds(10)
        self.reconnection = nil
        self.subscriptionBufferLimit = 1000
    }

    /// The CONNECT packet these settings describe.
    public var connectPacket: ConnectPacket {
        var properties = Properties()
        if protocolVersion.hasProperties {
            if let sessionExpiryInterval, sessionExpiryInterval > 0 {
                properties.sessionExpiryInterval = sessionExpiryInterval
            }
            if receiveMaximum < 65_535 { properties.receiveMaximum = receiveMaximum }
            if maximumPacketSize < MQTTPacketDecoder.largestPossiblePacketSize {
                properties.maximumPacketSize = UInt32(maximumPacketSize)
            }
            if topicAliasMaximum > 0 { properties.topicAliasMaximum = topicAliasMaximum }
            if requestResponseInformation { properties.requestResponseInformation = true }
            properties.userProperties = userProperties
        }
        var will = self.will
        if !protocolVersion.hasProperties { will?.properties = [] }
        return ConnectPacket(protocolVersion: protocolVersion, cleanStart: cleanStart, keepAlive: keepAlive,
                             clientIdentifier: clientIdentifier, will: will, username: username,
                             password: password, properties: properties)
    }

    /// Whether the server keeps the session after the connection ends, so unacknowledged messages can be resent.
    var sessionOutlivesConnection: Bool {
        protocolVersion.hasProperties ? (sessionExpiryInterval ?? 0) > 0 : !cleanStart
    }
}
