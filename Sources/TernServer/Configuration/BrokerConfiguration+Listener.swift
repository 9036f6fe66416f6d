import TernBroker

extension BrokerConfiguration {
    /// A network endpoint clients connect to: a `listener` line and the settings that follow it.
    public struct Listener: Sendable, Equatable {
        /// What a listener speaks on its socket (Mosquitto's `protocol`).
        public enum Transport: String, Sendable, Equatable {
            /// MQTT over TCP, or over TLS when the listener has `tls`.
            case mqtt
            /// MQTT over WebSocket, or over secure WebSocket when the listener has `tls`.
            case websockets
        }

        /// The address family a listener is restricted to (Mosquitto's `socket_domain`).
        public enum SocketDomain: String, Sendable, Equatable {
            case ipv4
            case ipv6
        }

        /// The TCP port; 0 (a Tern extension, refused by Mosquitto) lets the system pick a free port.
        public var port: Int
        /// The address or host name to bind, as written; nil binds every interface.
        public var address: String?
        /// nil listens on both IPv4 and IPv6, as Mosquitto does by default.
        public var socketDomain: SocketDomain?
        public var transport: Transport
        /// The most clients connected at once through this listener; nil means no limit (Mosquitto's -1).
        public var maxConnections: Int?
        /// `max_qos`, `max_topic_alias` and `mount_point` written for this listener; nil fields keep the broker's
        /// values.
        public var protocolLimits: ListenerProtocolLimits
        /// Certificate-based TLS; nil for a plain-text listener.
        public var tls: TLS?
        /// Directory of files served over HTTP by a WebSocket listener (Mosquitto's `http_dir`), absolute.
        public var httpDirectory: String?
        /// The origins browser pages may connect from to a WebSocket listener (`websockets_origin`, Tern's own);
        /// empty allows every origin, as Mosquitto does.
        public var allowedOrigins: [String]
        /// Who may connect here. With `per_listener_settings false` this is the broker-wide `security`, the same
        /// for every listener; with `true`, the settings written after this listener's `listener` line.
        public var security: Security

        public init(port: Int, address: String? = nil, socketDomain: SocketDomain? = nil,
                    transport: Transport = .mqtt, maxConnections: Int? = nil,
                    protocolLimits: ListenerProtocolLimits = ListenerProtocolLimits(), tls: TLS? = nil,
                    httpDirectory: String? = nil, allowedOrigins: [String] = [], security: Security = Security())
        {
            self.port = port
            self.address = address
            self.socketDomain = socketDomain
            self.transport = transport
            self.maxConnections = maxConnections
            self.protocolLimits = protocolLimits
            self.tls = tls
            self.httpDirectory = httpDirectory
            self.allowedOrigins = allowedOrigins
            self.security = security
        }
    }
}
