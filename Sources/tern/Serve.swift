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
            there only, as Mosquitto 2.0 does by default.
            """)

    @Option(name: [.short, .long], help: "The port to listen on (0 picks a free port, printed in the log).")
    var port: Int = 1883

    @Option(name: [.short, .long], help: "Increase logging: -v for connection details, -vv for debugging.")
    var verbose: Int = 0

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
        let server = MQTTServer(settings: BrokerSettings(), logger: logger)
        _ = try await server.start(listeners: [
            .init(host: "127.0.0.1", port: port),
            .init(host: "::1", port: port),
        ])
        let signal = await Self.waitForTermination()
        logger.notice("received \(signal == SIGINT ? "SIGINT" : "SIGTERM"), shutting down")
        try await server.shutdown()
    }

    /// Suspends until SIGINT or SIGTERM arrives, and returns which.
    static func waitForTermination() async -> Int32 {
        await withCheckedContinuation { continuation in
            let queue = DispatchQueue(label: "tern.signals")
            let once = OnceFlag()
            var sources: [DispatchSourceSignal] = []
            for number in [SIGINT, SIGTERM] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler {
                    if once.claim() {
                        sources.forEach { $0.cancel() }
                        continuation.resume(returning: number)
                    }
                }
                source.resume()
                sources.append(source)
            }
            queue.sync { _ = sources }
        }
    }
}

/// Lets exactly one caller through; used from one serial queue.
private final class OnceFlag: @unchecked Sendable {
    // Only touched on the serial signal queue, so no lock is needed.
    private var claimed = false

    func claim() -> Bool {
        if claimed { return false }
        claimed = true
        return true
    }
}
