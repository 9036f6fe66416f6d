import Logging
import NIOConcurrencyHelpers
import TernServer

#if canImport(Glibc)
import Glibc
#endif

/// `log_dest topic`: each log line published by the broker on Mosquitto's topics, `$SYS/broker/log/E`, `W`, `N`
/// and `I` by level (`E` for critical too), `$SYS/broker/log/M/subscribe` and `M/unsubscribe` for the
/// `log_type subscribe` and `unsubscribe` lines; as Mosquitto, at QoS 2, not retained, the payload
/// `SECONDS: message` (seconds since 1970, or the time as `log_timestamp_format` has it; just the message with
/// `log_timestamp false`), and debug lines not at all. Lines logged before the broker runs, or after it began to
/// stop, go nowhere.
struct TopicLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    let sink: LogTopicSink
    /// `log_timestamp_format`'s clock; nil for seconds since 1970.
    let clock: TextLogHandler.SecondsClock?
    let timestamps: Bool

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard let topic = Self.topic(level: event.level, source: event.source) else { return }
        let line = !timestamps ? "\(event.message)" : "\(clock?.now() ?? String(time(nil))): \(event.message)"
        sink.publish(line, topic: topic)
    }

    static func topic(level: Logger.Level, source: String) -> String? {
        switch (level, source) {
        case (_, "subscribe"): "$SYS/broker/log/M/subscribe"
        case (_, "unsubscribe"): "$SYS/broker/log/M/unsubscribe"
        case (.trace, _), (.debug, _): nil
        case (.info, _): "$SYS/broker/log/I"
        case (.notice, _): "$SYS/broker/log/N"
        case (.warning, _): "$SYS/broker/log/W"
        case (.error, _), (.critical, _): "$SYS/broker/log/E"
        }
    }
}

/// The running broker that `TopicLogHandler` publishes through, from `attach` to `detach`.
final class LogTopicSink: Sendable {
    private let server = NIOLockedValueBox<MQTTServer?>(nil)

    func attach(_ server: MQTTServer) { self.server.withLockedValue { $0 = server } }

    /// Called before the broker stops: its loop must not be handed work after it has shut down.
    func detach() { server.withLockedValue { $0 = nil } }

    func publish(_ line: String, topic: String) {
        server.withLockedValue { $0?.publishLogLine(line, topic: topic) }
    }
}
