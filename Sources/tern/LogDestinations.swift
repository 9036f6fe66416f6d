import Logging
import NIOConcurrencyHelpers
import TernServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where `tern serve` logs and from which level, from the configuration's `log_dest` and `log_type` (Mosquitto's
/// meanings) and `-v`.
struct LogDestinations {
    var handlers: [@Sendable (String) -> any LogHandler] = []
    var level: Logger.Level
    /// Destinations the configuration names that Tern cannot write to, for a warning once logging runs.
    var unsupported: [String] = []
    /// Where `log_dest topic` publishes, once the broker runs; nil without that destination.
    var topicSink: LogTopicSink?

    /// Opens the files; throws a message naming the file when one cannot be opened for appending.
    init(_ settings: BrokerConfiguration.LogSettings, verbose: Int) throws(LogFileError) {
        let kinds = settings.kinds
        level = verbose >= 2 || kinds.contains(.debug) ? .debug
            : verbose >= 1 || kinds.contains(.information) ? .info
            : kinds.contains(.notice) ? .notice
            : kinds.contains(.warning) ? .warning
            : kinds.contains(.error) ? .error : .critical
        typealias Clock = TextLogHandler.SecondsClock
        let format = settings.timestampFormat
        let clock = settings.timestamps ? Clock(format: format ?? Clock.defaultFormat) : nil
        // Topic payloads have Mosquitto's seconds since 1970 unless a format is set.
        let topicClock = format == nil ? nil : clock
        for destination in settings.destinations {
            let output: LogFile
            switch destination {
            case .stdout: output = LogFile(descriptor: 1)
            case .stderr: output = LogFile(descriptor: 2)
            case .file(let path): output = try LogFile(path: path)
            case .syslog: unsupported.append("syslog"); continue
            case .topic:
                let sink = topicSink ?? LogTopicSink()
                topicSink = sink
                let timestamps = settings.timestamps
                handlers.append { _ in TopicLogHandler(sink: sink, clock: topicClock, timestamps: timestamps) }
                continue
            case .dlt: unsupported.append("dlt"); continue
            }
            let write: @Sendable (String) -> Void = { line in
                var output = output
                output.write(line)
            }
            switch settings.format {
            case .text: handlers.append { TextLogHandler(label: $0, clock: clock, write: write) }
            case .json: handlers.append { JSONLogHandler(label: $0, write: write) }
            }
        }
    }

    /// Installs the handlers as the process's logging backend.
    func bootstrap() {
        let handlers = self.handlers
        let level = self.level
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                handlers.isEmpty ? SwiftLogNoOpLogHandler()
                : handlers.count == 1 ? handlers[0](label)
                : MultiplexLogHandler(handlers.map { $0(label) })
            handler.logLevel = level
            return handler
        }
    }
}

/// A log file opened for appending (`log_dest file PATH`); lines from any thread are written whole.
struct LogFile: TextOutputStream, Sendable {
    private let descriptor: Int32
    private let lock = NIOLock()

    /// An already open descriptor (standard output or error).
    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    init(path: String) throws(LogFileError) {
        descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { throw LogFileError(path: path, reason: String(cString: strerror(errno))) }
    }

    mutating func write(_ string: String) {
        var string = string
        let descriptor = self.descriptor
        lock.withLock {
            string.withUTF8 { bytes in _ = Glibc.write(descriptor, bytes.baseAddress, bytes.count) }
        }
    }
}

struct LogFileError: Error, CustomStringConvertible {
    var path: String
    var reason: String
    var description: String { "log_dest file \(path): cannot open for appending: \(reason)" }
}
