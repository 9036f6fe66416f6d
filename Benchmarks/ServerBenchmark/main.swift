// Tern's server in a process with a synchronous main, for `scripts/bench instructions --server`: callgrind
// (valgrind 3.19) crashes where `tern serve`'s async main parks the main thread in libdispatch, so the whole
// server path (reads, decoding, the broker, encoding, writes) is counted in this process instead. It listens on
// 127.0.0.1 at the port given (0: any free one), prints the port, and runs until killed, with the settings
// `scripts/bench broker` gives `tern serve`: no in-flight limit, a million queued messages, a 1 GiB write buffer.
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Logging
import TernBroker
import TernServer

var settings = BrokerSettings()
settings.maximumInflightMessages = 0
settings.maximumQueuedMessages = 1_000_000
var logger = Logger(label: "tern")
logger.logLevel = .warning
let server = MQTTServer(settings: settings, logger: logger, connectionMessages: false,
                        limits: ConnectionLimits(writeBuffer: 1 << 30))
let requestedPort = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 0
let started = DispatchSemaphore(value: 0)
Task.detached {  // detached: a plain `Task` here would wait for the main thread, blocked below
    do {
        let addresses = try await server.start(listeners: [.init(host: "127.0.0.1", port: requestedPort)])
        print("port \(addresses.first?.port ?? 0)")
        fflush(nil)  // all streams: `stdout` itself is a global that Swift 6 will not read from a task
        started.signal()
    } catch {
        print("error: \(error)")
        fflush(nil)
        exit(1)
    }
}
started.wait()
while true { sleep(3600) }
