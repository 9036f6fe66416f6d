import NIOCore
import NIOHTTP1

/// How a WebSocket listener accepts the HTTP upgrade.
public struct WebSocketSettings: Sendable, Equatable {
    /// The subprotocols MQTT is carried under [MQTT-6.0.0-3]; `mqttv3.1` is what clients of MQTT 3.1 offer.
    public static let subprotocols = ["mqtt", "mqttv3.1"]

    /// The `Origin` values a browser page must come from (compared without regard to case); empty allows every
    /// origin. Requests without `Origin` (clients that are not browsers) are always allowed.
    public var allowedOrigins: [String]
    /// The largest WebSocket frame accepted from a client, in bytes.
    public var maximumFrameSize: Int
    /// How long a new connection may take to complete the upgrade; then it is closed (the broker's connect timeout
    /// starts after the upgrade).
    public var upgradeTimeout: TimeAmount
    /// The files served to plain HTTP requests (`http_dir`); nil answers them 426 Upgrade Required.
    public var httpDirectory: HTTPDirectory?

    public init(allowedOrigins: [String] = [], maximumFrameSize: Int = 1 << 28,
                upgradeTimeout: TimeAmount = .seconds(10), httpDirectory: HTTPDirectory? = nil)
    {
        self.allowedOrigins = allowedOrigins
        self.maximumFrameSize = min(maximumFrameSize, Int(UInt32.max))
        self.upgradeTimeout = upgradeTimeout
        self.httpDirectory = httpDirectory
    }

    /// Whether a request's `Origin` header lets it in.
    func allows(_ headers: HTTPHeaders) -> Bool {
        guard !allowedOrigins.isEmpty, let origin = headers.first(name: "origin") else { return true }
        return allowedOrigins.contains { $0.lowercased() == origin.lowercased() }
    }

    /// The subprotocol to answer with: the first one the client offers that carries MQTT; nil when it offers none
    /// (accepted, without the header); `.failure` when it offers only others.
    func subprotocol(for headers: HTTPHeaders) -> Result<String?, SubprotocolMismatch> {
        let offered = headers[canonicalForm: "sec-websocket-protocol"].map { String($0) }
        guard !offered.isEmpty else { return .success(nil) }
        guard let chosen = offered.first(where: { Self.subprotocols.contains($0.lowercased()) }) else {
            return .failure(SubprotocolMismatch(offered: offered))
        }
        return .success(chosen)
    }

    struct SubprotocolMismatch: Error {
        var offered: [String]
    }
}
