import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import TernServer

/// The HTTP listener (`http_listener`): `/health`, `/ready`, `/metrics`, the JSON admin API, its OpenAPI
/// document and the dashboard, served by Hummingbird. Everything it reads from the broker comes through
/// `MQTTServer`'s methods, which hop onto the broker's event loop.
public final class AdminServer: Sendable {
    private let settings: BrokerConfiguration.HTTPSettings
    private let routes: AdminRoutes
    private let logger: Logger
    private let task = NIOLockedValueBox<Task<Void, any Error>?>(nil)

    /// - Parameters:
    ///   - settings: the `http_*` settings.
    ///   - policy: who may log in (build it with `AdminAccessPolicy(settings:passwordFile:)`, which refuses a
    ///     listener with no credentials that is not on loopback).
    ///   - webSocketPorts: the broker's WebSocket listeners (port, TLS), offered to the dashboard.
    ///   - readiness: named checks for `/ready` (listeners up, store open); all must be true.
    ///   - reload: what `POST /api/v1/reload` does.
    public init(settings: BrokerConfiguration.HTTPSettings, policy: AdminAccessPolicy, mqtt: MQTTServer,
                metrics: MetricsExporter, webSocketPorts: [(port: Int, tls: Bool)] = [],
                readiness: @escaping @Sendable () async -> [String: Bool],
                reload: @escaping ConfigurationReloader, logger: Logger) throws
    {
        self.settings = settings
        self.logger = logger
        routes = AdminRoutes(
            mqtt: mqtt, policy: NIOLockedValueBox(policy), metrics: metrics, reload: reload, readiness: readiness,
            webSocketListeners: webSocketPorts.map { WebSocketListenerDocument(port: $0.port, tls: $0.tls) },
            assets: try DashboardAssets(), threadPool: NIOThreadPool.singleton)
    }

    /// Swaps in the access policy of a reloaded configuration (users, tokens, password file).
    public func replacePolicy(_ policy: AdminAccessPolicy) {
        routes.policy.withLockedValue { $0 = policy }
    }

    /// Binds the listener and serves until `stop`; returns the address bound (with the port chosen for 0).
    public func start() async throws -> SocketAddress {
        let router = Router(context: BasicRequestContext.self)
        routes.register(on: router)
        let server: HTTPServerBuilder
        if let certificateFile = settings.certificateFile, let keyFile = settings.keyFile {
            let chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            server = try .tls(.http1(), tlsConfiguration: tls)
        } else {
            server = .http1()
        }
        let bound = NIOLockedValueBox<CheckedContinuation<SocketAddress, any Error>?>(nil)
        var logger = self.logger
        logger.logLevel = max(logger.logLevel, .notice)  // not a line per request
        return try await withCheckedThrowingContinuation { continuation in
            bound.withLockedValue { $0 = continuation }
            let application = Application(
                router: router, server: server,
                configuration: .init(address: .hostname(settings.address ?? "0.0.0.0", port: settings.port),
                                     serverName: "tern/\(TernVersion.number)"),
                onServerRunning: { [logger] channel in
                    // NIO's accept backoff, which Hummingbird installs, lets the listener spin at the open-file
                    // limit (see AcceptPause).
                    try? await channel.eventLoop.submit {
                        try channel.pipeline.syncOperations.addHandler(AcceptPause(logger: logger), position: .first)
                    }.get()
                    let continuation = bound.withLockedValue { value in defer { value = nil }; return value }
                    continuation?.resume(returning: channel.localAddress ?? (try! SocketAddress(ipAddress: "0.0.0.0", port: 0)))
                },
                logger: logger)
            task.withLockedValue {
                $0 = Task {
                    do {
                        try await application.run()
                    } catch {
                        let continuation = bound.withLockedValue { value in defer { value = nil }; return value }
                        continuation?.resume(throwing: error)
                        throw error
                    }
                }
            }
        }
    }

    /// Stops serving and waits until the listener is closed.
    public func stop() async {
        guard let task = task.withLockedValue({ $0 }) else { return }
        task.cancel()
        _ = try? await task.value
    }
}

extension AdminServer {
    /// Reads the configuration file again and swaps in the HTTP access policy it describes (users, tokens,
    /// password file); returns why it could not, or nil. The listener's address and port stay as they are.
    public func reloadPolicy(configurationFile path: String, port: Int) -> String? {
        do {
            let (configuration, _) = try BrokerConfiguration.load(path: path, port: port)
            guard let http = configuration.http else { return "http_listener removed: that takes a restart" }
            let passwordFile = try http.passwordFile.map { try PasswordFile.load(path: $0) }
            replacePolicy(try AdminAccessPolicy(settings: http, passwordFile: passwordFile))
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// `127.0.0.1:8080`, `[::1]:8080`.
    public static func display(_ address: SocketAddress) -> String {
        switch address {
        case .v6: "[\(address.ipAddress ?? "?")]:\(address.port ?? 0)"
        default: "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        }
    }
}
