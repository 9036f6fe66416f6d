import ArgumentParser
import Dispatch
import Logging
import TernBroker
import TernServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the broker.",
        discussion: """
            With no options the broker listens on 127.0.0.1 and ::1, port 1883, and accepts anonymous clients \
            there only, as Mosquitto 2.0 does by default. With -c it reads a mosquitto.conf-style file (see \
            docs/configuration.md); SIGHUP reloads the file's password and ACL files and allow_anonymous. \
            Sessions, subscriptions, messages in flight and queued, and retained messages are kept in \
            ./tern-data/tern.sqlite (or --data-dir, or persistence_location) and survive a restart or a crash; \
            `persistence false` in the file keeps everything in memory (see docs/persistence.md).
            """)

    @Option(name: [.short, .long], help: "A configuration file in mosquitto.conf syntax.")
    var config: String?

    @Option(name: [.short, .long],
            help: "The port to listen on when the configuration defines no listener (0 picks a free port).")
    var port: Int = 1883

    @Option(name: [.short, .long], help: "Increase logging: -v for connection details, -vv for debugging.")
    var verbose: Int = 0

    @Option(name: .customLong("data-dir"),
            help: "The directory of the broker's store (default: ./tern-data, or persistence_location).")
    var dataDirectory: String?

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("port must be between 0 and 65535") }
    }

    func run() async throws {
        let level: Logger.Level = verbose >= 2 ? .debug : .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "tern")

        let configuration: BrokerConfiguration
        var securities: [ListenerSecurity] = []
        if let config {
            let loaded = try Self.load(config, port: port, logger: logger)
            configuration = loaded.configuration
            securities = loaded.securities
            if configuration.isLocalOnly && port != 1883 {
                logger.info("no listener in \(config): listening on port \(port) of the loopback addresses")
            } else if !configuration.isLocalOnly && port != 1883 {
                logger.warning("-p \(port) ignored: \(config) defines its listeners")
            }
        } else {
            configuration = .default(port: port)
        }
        // Without a file every client is let in on loopback, with no authenticator in the way.
        let authenticators: [ListenerAuthenticator?] =
            config == nil ? configuration.listeners.map { _ in nil } : securities.map(ListenerAuthenticator.init)

        let persistence = configuration.persistence
        var store: SQLiteStore?
        if persistence.enabled {
            let directory = dataDirectory ?? persistence.directory
            do {
                store = try SQLiteStore(directory: directory, syncMode: persistence.sync)
            } catch {
                Self.printError("error: \(error)")
                throw ExitCode(1)
            }
            logger.notice("keeping state in \(store!.path) (synchronous \(persistence.sync.rawValue))")
        } else {
            logger.notice("persistence false: state is kept in memory only and lost when the broker stops")
        }
        let server = MQTTServer(settings: configuration.brokerSettings(), logger: logger, store: store,
                                commitWindow: .milliseconds(Int64(persistence.commitWindowMilliseconds)))
        var listeners: [MQTTServer.Listener] = []
        for (listener, authenticator) in zip(configuration.listeners, authenticators) {
            for host in Self.hosts(of: listener) {
                listeners.append(.init(host: host, port: listener.port, authenticator: authenticator))
            }
        }
        let signals = Self.signals()
        do {
            _ = try await server.start(listeners: listeners)
        } catch let error as StoreError {
            Self.printError("error: \(error)")
            throw ExitCode(1)
        }

        for await signal in signals {
            if signal == SIGHUP {
                guard let config else {
                    logger.notice("received SIGHUP: no configuration file to reload")
                    continue
                }
                await Self.reload(config, port: port, into: authenticators, server: server, logger: logger)
                continue
            }
            logger.notice("received \(signal == SIGINT ? "SIGINT" : "SIGTERM"), shutting down")
            break
        }
        try await server.shutdown()
    }

    /// Reads the configuration and the security files of each listener; any error ends the process with status 1,
    /// after naming the file and line. Warnings are logged.
    static func load(_ path: String, port: Int, logger: Logger) throws
        -> (configuration: BrokerConfiguration, securities: [ListenerSecurity])
    {
        do {
            let (configuration, warnings) = try BrokerConfiguration.load(path: path, port: port)
            for warning in warnings { logger.warning("\(warning)") }
            try refuseUnimplemented(configuration)
            var securities: [ListenerSecurity] = []
            for listener in configuration.listeners {
                let (security, aclWarnings) = try ListenerSecurity.load(listener.security)
                for warning in aclWarnings { logger.warning("\(warning)") }
                securities.append(security)
            }
            return (configuration, securities)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }

    /// Settings that parse but that this build cannot honour yet: refused rather than silently ignored.
    static func refuseUnimplemented(_ configuration: BrokerConfiguration) throws(ConfigurationDiagnostic) {
        let file = configuration.files.first ?? "configuration"
        for listener in configuration.listeners {
            if listener.transport == .websockets {
                throw ConfigurationDiagnostic(file: file, line: nil, message: """
                    listener \(listener.port): protocol websockets is not supported yet
                    """)
            }
            if listener.tls != nil {
                throw ConfigurationDiagnostic(file: file, line: nil, message: """
                    listener \(listener.port): TLS (certfile, keyfile) is not supported yet
                    """)
            }
            if listener.maxConnections != nil {
                throw ConfigurationDiagnostic(file: file, line: nil, message: """
                    listener \(listener.port): max_connections is not supported yet
                    """)
            }
        }
    }

    /// SIGHUP: reads the file again and swaps each listener's security in place; connected clients get the new
    /// access rules, and those no longer allowed are disconnected. A file that fails to load changes nothing.
    static func reload(_ path: String, port: Int, into authenticators: [ListenerAuthenticator?],
                       server: MQTTServer, logger: Logger) async
    {
        logger.notice("received SIGHUP: reloading \(path)")
        let configuration: BrokerConfiguration
        var securities: [ListenerSecurity] = []
        do {
            let (loaded, warnings) = try BrokerConfiguration.load(path: path, port: port)
            for warning in warnings { logger.warning("\(warning)") }
            configuration = loaded
            for listener in configuration.listeners {
                let (security, aclWarnings) = try ListenerSecurity.load(listener.security)
                for warning in aclWarnings { logger.warning("\(warning)") }
                securities.append(security)
            }
        } catch {
            logger.error("reload failed, keeping the previous configuration: \(error)")
            return
        }
        if securities.count != authenticators.count {
            logger.warning("listeners added or removed: that takes a restart; security is reloaded for the others")
        }
        for (authenticator, security) in zip(authenticators, securities) {
            authenticator?.security = security
        }
        do {
            try await server.reauthorizeConnectedClients()
            logger.notice("reloaded \(path)")
        } catch {
            logger.error("reload: \(error)")
        }
    }

    /// The addresses to bind for a listener: its own, or every interface of the allowed families.
    static func hosts(of listener: BrokerConfiguration.Listener) -> [String] {
        if let address = listener.address { return [address] }
        switch listener.socketDomain {
        case .ipv4: return ["0.0.0.0"]
        case .ipv6: return ["::"]
        case nil: return ["0.0.0.0", "::"]
        }
    }

    static func printError(_ message: String) {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// SIGINT, SIGTERM and SIGHUP as they arrive, from the first call on (their default actions are disabled).
    static func signals() -> AsyncStream<Int32> {
        AsyncStream { continuation in
            let queue = DispatchQueue(label: "tern.signals")
            let sources = [SIGINT, SIGTERM, SIGHUP].map { number in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { continuation.yield(number) }
                source.resume()
                return source
            }
            let retained = SignalSources(sources)
            continuation.onTermination = { _ in retained.cancel() }
        }
    }
}

/// Keeps the signal sources alive as long as the stream that yields them.
private final class SignalSources: @unchecked Sendable {
    // Set once, cancelled once.
    private let sources: [any DispatchSourceSignal]

    init(_ sources: [any DispatchSourceSignal]) {
        self.sources = sources
    }

    func cancel() {
        sources.forEach { $0.cancel() }
    }
}
