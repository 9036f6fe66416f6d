import ArgumentParser
import Dispatch
import Logging
import NIOConcurrencyHelpers
import TernAdmin
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
            docs/configuration.md); SIGHUP reloads the file's password and ACL files, allow_anonymous and the \
            listeners' TLS certificates. Sessions, subscriptions, messages in flight and queued, and retained \
            messages are kept in ./tern-data/tern.sqlite (or --data-dir, or persistence_location) and survive a \
            restart or a crash; `persistence false` in the file keeps everything in memory (see \
            docs/persistence.md).
            """)

    @Option(name: [.short, .long], help: "A configuration file in mosquitto.conf syntax.")
    var config: String?

    @Option(name: [.short, .long],
            help: "The port to listen on when the configuration defines no listener (0 picks a free port).")
    var port: Int = 1883

    // A flag counted as Mosquitto's `-v` is typed: `-v`, `-vv` or `-v -v`.
    @Flag(name: [.short, .long], help: "Increase logging: -v for connection details, -vv for debugging.")
    var verbose: Int

    @Option(name: .customLong("data-dir"),
            help: "The directory of the broker's store (default: ./tern-data, or persistence_location).")
    var dataDirectory: String?

    @Option(name: .customLong("event-loops"),
            help: """
                Threads for the network (overrides event_loops): with 1, the broker core and every connection \
                share one; with N, the core has one and connections spread over the N - 1 others.
                """)
    var eventLoops: Int?

    @Flag(name: [.short, .long],
          help: "Run in the background, detached from the terminal, as mosquitto -d does (see pid_file).")
    var daemon = false

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("port must be between 0 and 65535") }
        if let eventLoops, !(1...256).contains(eventLoops) {
            throw ValidationError("event-loops must be between 1 and 256")
        }
    }

    func run() async throws {
        var configuration = BrokerConfiguration.default(port: port)
        var securities: [ListenerSecurity] = []
        var warnings: [String] = []
        if let config {
            (configuration, securities, warnings) = try Self.load(config, port: port)
            if !configuration.isLocalOnly && port != 1883 {
                warnings.append("-p \(port) ignored: \(config) defines its listeners")
            }
        }
        if daemon && !Daemon.isChild() {
            do {
                _ = try Daemon.spawnDetached()
                return
            } catch {
                Self.printError("error: \(error)")
                throw ExitCode(1)
            }
        }
        let topicSink: LogTopicSink?
        do {
            let destinations = try LogDestinations(configuration.logging, verbose: verbose)
            destinations.bootstrap()
            for name in destinations.unsupported { warnings.append("log_dest \(name) is not supported; ignored") }
            topicSink = destinations.topicSink
        } catch {
            Self.printError("error: \(error)")
            throw ExitCode(1)
        }
        let logger = Logger(label: "tern")
        for warning in warnings { logger.warning("\(warning)") }
        let pidFile: PIDFile?
        do {
            pidFile = try configuration.pidFile.map { path throws(PIDFile.WriteError) in try PIDFile(writingTo: path) }
        } catch {
            Self.printError("error: \(error)")
            throw ExitCode(1)
        }
        defer { pidFile?.remove() }
        if let raised = OpenFileLimit.raiseToHardLimit() {
            logger.info("open-file limit raised from \(raised.before) to \(raised.after), the hard limit")
        }
        if let eventLoops { configuration.eventLoops = eventLoops }

        // Without a file every client is let in on loopback, with no authenticator in the way.
        let authenticators: [ListenerAuthenticator?] =
            config == nil ? configuration.listeners.map { _ in nil } : securities.map(ListenerAuthenticator.init)

        let persistence = configuration.persistence
        var store: SQLiteStore?
        if persistence.enabled {
            // A file-size limit (`ulimit -f`) reached by the store must fail the commit, which the broker survives
            // (it refuses QoS 1 and 2 until commits work again), not kill the process with SIGXFSZ.
            signal(SIGXFSZ, SIG_IGN)
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
        let transports = try Self.transports(of: configuration, logger: logger)
        let server = MQTTServer(settings: configuration.brokerSettings(), logger: logger,
                                connectionMessages: configuration.logging.connectionMessages, store: store,
                                commitWindow: .milliseconds(Int64(persistence.commitWindowMilliseconds)),
                                limits: configuration.connectionLimits(), eventLoops: configuration.eventLoops)
        var listeners: [MQTTServer.Listener] = []
        for ((listener, authenticator), transport) in zip(zip(configuration.listeners, authenticators), transports) {
            for host in Self.hosts(of: listener) {
                let clientIdentifiers = ClientIdentifierRules(
                    allowZeroLength: listener.security.allowZeroLengthClientID,
                    assignedPrefix: listener.security.autoIDPrefix,
                    usesUsername: listener.security.useUsernameAsClientID)
                listeners.append(.init(host: host, port: listener.port, authenticator: authenticator,
                                       transport: transport, clientIdentifiers: clientIdentifiers,
                                       protocolLimits: listener.protocolLimits))
            }
        }
        let adminPolicy = try Self.adminPolicy(configuration)
        let signals = Self.signals()
        do {
            _ = try await server.start(listeners: listeners)
        } catch let error as StoreError {
            Self.printError("error: \(error)")
            throw ExitCode(1)
        }
        try await server.publishSystemTopics(every: configuration.sysInterval)
        try await server.logSubscriptions(subscribe: configuration.logging.kinds.contains(.subscribe),
                                          unsubscribe: configuration.logging.kinds.contains(.unsubscribe))
        let adminBox = NIOLockedValueBox<AdminServer?>(nil)  // the reload closure is made before the server
        let admin = try await Self.startAdmin(configuration, policy: adminPolicy, server: server, logger: logger) {
            guard let config else { return "no configuration file to reload" }
            if let failure = await Self.reload(config, port: port, into: authenticators, transports: transports,
                                               server: server, logger: logger)
            {
                return failure
            }
            return adminBox.withLockedValue { $0 }?.reloadPolicy(configurationFile: config, port: port)
        }
        adminBox.withLockedValue { $0 = admin }
        // From here the broker stops only below, after `detach`: its loop is never handed a line once shut down.
        topicSink?.attach(server)

        for await signal in signals {
            if signal == SIGHUP {
                guard let config else {
                    logger.notice("received SIGHUP: no configuration file to reload")
                    continue
                }
                if await Self.reload(config, port: port, into: authenticators, transports: transports, server: server,
                                     logger: logger) == nil,
                   let failure = admin?.reloadPolicy(configurationFile: config, port: port)
                {
                    logger.error("reload of the http settings: \(failure)")
                }
                continue
            }
            logger.notice("received \(signal == SIGINT ? "SIGINT" : "SIGTERM"), shutting down")
            break
        }
        await admin?.stop()
        topicSink?.detach()
        try await server.shutdown()
    }

    /// Who may use the HTTP listener, checked before any listener opens: a listener without credentials off
    /// loopback, or an unreadable password file, ends the process with status 1.
    static func adminPolicy(_ configuration: BrokerConfiguration) throws -> AdminAccessPolicy? {
        guard let http = configuration.http else { return nil }
        do {
            return try AdminAccessPolicy(settings: http, passwordFile: try http.passwordFile.map {
                try PasswordFile.load(path: $0)
            })
        } catch {
            printError("error: http_listener: \(error)")
            throw ExitCode(1)
        }
    }

    /// Starts the HTTP listener when the configuration has one; a listener that may not start as configured (no
    /// credentials off loopback, unreadable password file, port taken) ends the process with status 1.
    static func startAdmin(_ configuration: BrokerConfiguration, policy: AdminAccessPolicy?, server: MQTTServer,
                           logger: Logger, reload: @escaping ConfigurationReloader) async throws -> AdminServer?
    {
        guard let http = configuration.http, let policy else { return nil }
        do {
            let metrics = MetricsExporter()
            metrics.bootstrapMetricsSystem()
            let webSockets = configuration.listeners.filter { $0.transport == .websockets }
                .map { (port: $0.port, tls: $0.tls != nil) }
            let admin = try AdminServer(
                settings: http, policy: policy, mqtt: server, metrics: metrics, webSocketPorts: webSockets,
                readiness: { ["listeners": server.listenersAreUp, "store": await server.storeAcceptsCommits()] }, reload: reload, logger: logger)
            let address = try await admin.start()
            let open = policy.isOpen ? " (open to everyone: loopback, no credentials configured)" : ""
            logger.notice("http listening on \(AdminServer.display(address))\(open)")
            return admin
        } catch {
            printError("error: http_listener: \(error)")
            try? await server.shutdown()
            throw ExitCode(1)
        }
    }

    /// Reads the configuration and the security files of each listener, with the warnings to log; any error ends
    /// the process with status 1, after naming the file and line.
    static func load(_ path: String, port: Int) throws
        -> (configuration: BrokerConfiguration, securities: [ListenerSecurity], warnings: [String])
    {
        do {
            return try read(path, port: port)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }

    /// The configuration file and the security files of each listener, with the warnings of both. Throws the first
    /// problem.
    static func read(_ path: String, port: Int) throws
        -> (configuration: BrokerConfiguration, securities: [ListenerSecurity], warnings: [String])
    {
        let (configuration, diagnostics) = try BrokerConfiguration.load(path: path, port: port)
        var warnings = diagnostics.map(\.description)
        var securities: [ListenerSecurity] = []
        for listener in configuration.listeners {
            let (security, aclWarnings) = try ListenerSecurity.load(listener.security, tls: listener.tls)
            warnings += aclWarnings
            securities.append(security)
        }
        return (configuration, securities, warnings)
    }

    /// SIGHUP: reads the file again and swaps each listener's security in place; connected clients get the new
    /// access rules, and those no longer allowed are disconnected. A file that fails to load changes nothing.
    @discardableResult
    static func reload(_ path: String, port: Int, into authenticators: [ListenerAuthenticator?],
                       transports: [ListenerTransport], server: MQTTServer, logger: Logger) async -> String?
    {
        logger.notice("received SIGHUP: reloading \(path)")
        let configuration: BrokerConfiguration
        let securities: [ListenerSecurity]
        do {
            let warnings: [String]
            (configuration, securities, warnings) = try read(path, port: port)
            for warning in warnings { logger.warning("\(warning)") }
        } catch {
            logger.error("reload failed, keeping the previous configuration: \(error)")
            return "\(error)"
        }
        if securities.count != authenticators.count {
            logger.warning("listeners added or removed: that takes a restart; security is reloaded for the others")
        }
        for (authenticator, security) in zip(authenticators, securities) {
            authenticator?.security = security
        }
        // Renewed certificates serve new connections; open ones keep theirs.
        for (transport, listener) in zip(transports, configuration.listeners) {
            guard let tls = transport.tls, let settings = listener.tls else { continue }
            do {
                for warning in try tls.reload(settings) { logger.warning("listener \(listener.port): \(warning)") }
            } catch {
                logger.error("listener \(listener.port): keeping the previous certificates: \(error)")
            }
        }
        do {
            try await server.reauthorizeConnectedClients()
            logger.notice("reloaded \(path)")
            return nil
        } catch {
            logger.error("reload: \(error)")
            return "\(error)"
        }
    }

    /// Each listener's transport (TLS contexts read from their files); an unusable TLS setting ends the process
    /// with status 1.
    static func transports(of configuration: BrokerConfiguration, logger: Logger) throws -> [ListenerTransport] {
        let settings = configuration.brokerSettings()
        return try configuration.listeners.map { listener in
            do {
                let (transport, warnings) = try ListenerTransport.load(listener, settings: settings)
                for warning in warnings { logger.warning("listener \(listener.port): \(warning)") }
                return transport
            } catch {
                printError("error: listener \(listener.port): \(error)")
                throw ExitCode(1)
            }
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
    /// Returns once the sources are registered: a signal sent after that (say, right after the listeners report
    /// they listen) is never lost.
    static func signals() -> AsyncStream<Int32> {
        AsyncStream { continuation in
            let queue = DispatchQueue(label: "tern.signals")
            let registered = DispatchGroup()
            let sources = [SIGINT, SIGTERM, SIGHUP].map { number in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { continuation.yield(number) }
                registered.enter()
                source.setRegistrationHandler { registered.leave() }
                source.resume()
                return source
            }
            registered.wait()
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
