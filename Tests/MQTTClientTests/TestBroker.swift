import Foundation
import Synchronization
import Logging
import MQTTClient
import MQTTCore
import NIOCore
import NIOPosix
import TernBroker
import TernServer

/// A broker a test talks to: Debian's `mosquitto` in a child process, or Tern's `MQTTServer` in this process.
/// Both listen on 127.0.0.1 and a port chosen for the test; `stop()` ends them.
final class TestBroker: @unchecked Sendable {
    // @unchecked: the fields are set once in the initializer and only read afterwards; stop() is called once,
    // from the test that owns the broker.
    enum Kind: String, CaseIterable, Sendable, CustomStringConvertible {
        case mosquitto
        case tern
        var description: String { rawValue }
    }

    let kind: Kind
    let port: Int
    /// The port that `{port2}` stood for in a mosquitto configuration (0 for Tern).
    private(set) var secondPort = 0
    private var process: Process?
    private let server: MQTTServer?
    let directory: URL

    private init(kind: Kind, port: Int, process: Process?, server: MQTTServer?, directory: URL) {
        self.kind = kind
        self.port = port
        self.process = process
        self.server = server
        self.directory = directory
    }

    static func start(_ kind: Kind, settings: BrokerSettings = BrokerSettings(), mosquittoConfig: String = "")
        async throws -> TestBroker
    {
        switch kind {
        case .mosquitto: try await mosquitto(config: mosquittoConfig)
        case .tern: try await tern(settings: settings)
        }
    }

    static func tern(settings: BrokerSettings = BrokerSettings(),
                     authenticator: (any ConnectionAuthenticator)? = nil,
                     store: (any BrokerStore & Sendable)? = nil) async throws -> TestBroker
    {
        var logger = Logger(label: "test-tern")
        logger.logLevel = .error
        let server = MQTTServer(settings: settings, logger: logger, store: store)
        let addresses = try await server.start(listeners: [
            .init(host: "127.0.0.1", port: 0, authenticator: authenticator)
        ])
        return TestBroker(kind: .tern, port: addresses[0].port!, process: nil, server: server,
                          directory: FileManager.default.temporaryDirectory)
    }

    /// Starts `mosquitto -c FILE` with `listener PORT 127.0.0.1`, `allow_anonymous true` and `config` (which may
    /// use `{dir}` for the test's folder and `{port2}` for a second free port), and waits for the port.
    static func mosquitto(config: String = "", listenerLine: Bool = true) async throws -> TestBroker {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tern-client-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        return try await mosquitto(config: config, directory: directory, listenerLine: listenerLine)
    }

    static func mosquitto(config: String, directory: URL, listenerLine: Bool = true) async throws -> TestBroker {
        let binary = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let binary else { throw TestBrokerError("mosquitto is not installed (scripts/test installs it)") }
        var lastOutput = ""
        for _ in 0..<5 {
            let port = try freePort()
            let port2 = try freePort()
            let text = (listenerLine ? "listener \(port) 127.0.0.1\n" : "") + "allow_anonymous true\n"
                + config.replacingOccurrences(of: "{dir}", with: directory.path)
                .replacingOccurrences(of: "{port2}", with: "\(port2)")
                .replacingOccurrences(of: "{port}", with: "\(port)") + "\n"
            let file = directory.appendingPathComponent("mosquitto.conf")
            try text.write(to: file, atomically: true, encoding: .utf8)
            let log = directory.appendingPathComponent("mosquitto.log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["-c", file.path]
            process.standardInput = FileHandle.nullDevice
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            // Generous: with the whole suite running in parallel on two loaded cores, start-up can take seconds.
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline && process.isRunning {
                if await canConnect(port: listenerLine ? port : port2) {
                    let broker = TestBroker(kind: .mosquitto, port: listenerLine ? port : port2, process: process,
                                            server: nil, directory: directory)
                    broker.secondPort = port2
                    if config.contains("{port2}") && listenerLine {
                        _ = try await eventually(within: 5) { await canConnect(port: port2) }
                    }
                    return broker
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            await end(process)
            lastOutput = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if !lastOutput.contains("Address already in use") { break }
        }
        throw TestBrokerError("mosquitto did not start:\n\(lastOutput)")
    }

    /// The second port named `{port2}` in the config, for tests that configure their own listeners.
    func stop() async {
        if let process { await Self.end(process) }
        if process != nil { try? FileManager.default.removeItem(at: directory) }
        if let server { try? await server.shutdown() }
    }

    /// What the in-process Tern broker knows of a session (nil for mosquitto).
    func sessionSummary(clientID: String) async throws -> SessionSummary? {
        try await server?.sessionSummary(clientID: clientID)
    }

    func configuration(_ version: ProtocolVersion = .v5, clientIdentifier: String = "") -> MQTTClientConfiguration {
        var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: port, protocolVersion: version,
                                                    clientIdentifier: clientIdentifier)
        configuration.connectTimeout = .seconds(20)  // generous: TLS handshakes on a loaded 2-core machine
        return configuration
    }

    /// Stops the broker from a `defer`: mosquitto gets SIGKILL at once, Tern shuts down in the background.
    func stopNow() {
        // Unconditional: Process.isRunning can lag behind on Linux.
        if let process { kill(process.processIdentifier, SIGKILL) }
        if process != nil { try? FileManager.default.removeItem(at: directory) }
        if let server { Task { try? await server.shutdown() } }
    }

    /// Restarts mosquitto with the same configuration file (so on the same port); clients see the connection drop.
    func restart() async throws {
        guard let old = process else { return }
        kill(old.processIdentifier, SIGKILL)
        _ = try await eventually(within: 5) { !old.isRunning }
        let restarted = Process()
        restarted.executableURL = old.executableURL
        restarted.arguments = old.arguments
        restarted.standardInput = FileHandle.nullDevice
        restarted.standardOutput = old.standardOutput
        restarted.standardError = old.standardError
        try restarted.run()
        process = restarted
        let port = self.port
        guard try await eventually(within: 10, { await Self.canConnect(port: port) }) else {
            throw TestBrokerError("mosquitto did not restart")
        }
    }

    /// SIGTERM, then SIGKILL after 5 s; polls instead of blocking a concurrency thread in waitUntilExit.
    static func end(_ process: Process) async {
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        if process.isRunning { kill(pid, SIGKILL) }
    }

    static func freePort() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0).wait()
        let port = channel.localAddress!.port!
        try channel.close().wait()
        return port
    }

    static func canConnect(port: Int) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }
}

struct TestBrokerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Waits for `condition` to hold, polling, until `seconds` pass.
func eventually(within seconds: Double = 5, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// Collects a subscription's messages in the background, so tests can wait for them with a deadline.
final class MessageCollector: Sendable {
    private final class Box: Sendable {
        let mutex = Mutex<([MQTTMessage], (any Error)?, Bool)>(([], nil, false))
        func withLock<T>(_ body: (inout ([MQTTMessage], (any Error)?, Bool)) -> T) -> T { mutex.withLock { body(&$0) } }
    }
    private let box = Box()

    init(_ subscription: MQTTSubscription) {
        let box = self.box
        Task {
            do {
                for try await message in subscription { box.withLock { $0.0.append(message) } }
                box.withLock { $0.2 = true }
            } catch {
                box.withLock { $0.1 = error; $0.2 = true }
            }
        }
    }

    var messages: [MQTTMessage] { box.withLock { $0.0 } }
    /// True once the subscription's sequence ended.
    var ended: Bool { box.withLock { $0.2 } }
    var error: (any Error)? { box.withLock { $0.1 } }

    /// Waits until `count` messages arrived (or `seconds` pass) and returns what arrived.
    func wait(for count: Int, within seconds: Double = 20) async throws -> [MQTTMessage] {
        _ = try await eventually(within: seconds) { messages.count >= count }
        return messages
    }
}
