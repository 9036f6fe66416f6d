import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `log_format text` (the default): one line per event in swift-log's `StreamLogHandler` layout,
/// `2026-12-07T12:03:16+0000 info tern: key=value [source] message`, with the metadata sorted by key; the time as
/// `log_timestamp_format` has it, or none with `log_timestamp false`.
///
/// Unlike `StreamLogHandler` it formats the local time once per second, not once per line: glibc's `localtime`
/// checks /etc/localtime with a `stat` call each time, which with `strftime` was 4% of the broker's CPU while
/// clients connect (a line each).
struct TextLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:] {
        didSet { prettyMetadata = Self.prettify(metadata) }
    }
    private var prettyMetadata: String?
    let label: String
    /// The time at the start of each line; nil for none.
    let clock: SecondsClock?
    let write: @Sendable (String) -> Void

    init(label: String, clock: SecondsClock? = SecondsClock(), write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.clock = clock
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var pretty = prettyMetadata
        if event.metadata?.isEmpty == false || event.error != nil {
            var merged = metadata.merging(event.metadata ?? [:]) { $1 }
            if let error = event.error {
                merged["error.message"] = "\(error)"
                merged["error.type"] = "\(String(reflecting: type(of: error)))"
            }
            pretty = Self.prettify(merged)
        }
        var line = clock.map { $0.now() + " " } ?? ""
        line += "\(event.level) \(label):"
        if let pretty { line += " " + pretty }
        line += " [\(event.source)] \(event.message)\n"
        write(line)
    }

    private static func prettify(_ metadata: Logger.Metadata) -> String? {
        metadata.isEmpty ? nil : metadata.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: " ")
    }

    /// The local time as a `strftime` format has it (`%Y-%m-%dT%H:%M:%S%z` unless given), formatted again only
    /// when the second changes.
    final class SecondsClock: Sendable {
        static let defaultFormat = "%Y-%m-%dT%H:%M:%S%z"
        private let format: String
        private let last = Mutex<(second: time_t, text: String)>((-1, ""))

        init(format: String = defaultFormat) {
            self.format = format
        }

        func now() -> String {
            let second = time(nil)
            return last.withLock { last in
                if last.second != second {
                    last = (second, Self.format(second, as: format))
                }
                return last.text
            }
        }

        static func format(_ second: time_t, as format: String = defaultFormat) -> String {
            var second = second
            var parts = tm()
            // localtime_r reads the time zone once (localtime re-checks /etc/localtime on every call).
            guard localtime_r(&second, &parts) != nil else { return "<unknown>" }
            var buffer = [CChar](repeating: 0, count: 256)
            let count = strftime(&buffer, buffer.count, format, &parts)
            return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}
