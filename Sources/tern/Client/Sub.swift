import ArgumentParser
import Foundation
import MQTTClient
import MQTTCore
import NIOCore

/// `tern sub`: subscribe and print messages, with mosquitto_sub's options and exit codes.
struct Sub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Subscribe and print messages, with mosquitto_sub's options (tern sub --help lists them).",
        helpNames: [])

    @Argument(parsing: .captureForPassthrough, help: "mosquitto_sub options, e.g. -h HOST -t TOPIC -v")
    var arguments: [String] = []

    static let usage = """
        tern sub: subscribe to MQTT topics and print the messages (the options of mosquitto_sub).

        Usage: tern sub {[-h host] [-p port] [-u username] [-P password] -t topic... | -L URL [-t topic]}
                        [-c] [-k keepalive] [-q qos] [-x session-expiry-interval]
                        [-C msg_count] [-E] [-R] [--retained-only] [-T filter_out]... [-U topic]...
                        [-F format] [-W timeout_secs] [-i id] [-I id_prefix] [-d] [-N] [--quiet] [-v]
                        [-V mqttv5|mqttv311|mqttv31]
                        [--will-topic topic [--will-payload payload] [--will-qos qos] [--will-retain]]
                        [--cafile file] [--cert file --key file] [--insecure] [--auth-method SCRAM-SHA-512]
                        [-D command identifier value]...
               tern sub --help

         --auth-method SCRAM-SHA-512 : MQTT 5 enhanced authentication with -u and -P; the password is not sent
         -F : output format: %t topic, %p payload, %q QoS, %r retained, %l length, %x hex payload, %I ISO 8601
              time, %U Unix time, %j JSON, %% a percent sign, @Y (etc.) strftime fields, \\n \\t escapes
         -W : exit with status 27 after this many seconds without finishing
        Exit status: 0 on success, 1 on errors, 27 on -W timeout, the CONNACK code when the broker refuses.
        """

    func run() async throws {
        let options = try ClientRun.options(arguments, tool: .sub, usage: Self.usage)
        let client = MQTTClient(configuration: try options.configuration())
        let code: Int32 = try await withThrowingTaskGroup(of: Int32.self) { group in
            if let timeout = options.timeout {
                group.addTask {
                    try await Task.sleep(for: .seconds(timeout))
                    return 27
                }
            }
            group.addTask { try await receive(client, options) }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        if code == 27 && !options.quiet { ClientRun.printError("Timed out") }
        try? await client.disconnect(properties: options.properties(for: "disconnect"))
        if code != 0 { throw ExitCode(code) }
    }

    private func receive(_ client: MQTTClient, _ options: ClientOptions) async throws -> Int32 {
        try await ClientRun.connect(client, options: options)
        do {
            if !options.unsubscribeTopics.isEmpty {
                try await client.unsubscribe(options.unsubscribeTopics, properties: options.properties(for: "unsubscribe"))
            }
            let subscriptions = options.topics.map { Subscription(topicFilter: $0, qos: options.qos) }
            let subscription = try await client.subscribe(to: subscriptions,
                                                          properties: options.properties(for: "subscribe"))
            for (filter, code) in zip(options.topics, subscription.reasonCodes) where !code.isSuccess {
                if !options.quiet {
                    ClientRun.printError("Subscription to \(filter) refused: \(MQTTClientErrorPhrase.phrase(code))")
                }
            }
            if !subscription.isGranted {
                if !options.quiet { ClientRun.printError("All subscription requests were denied.") }
                return 1
            }
            if options.exitAfterSubscribe { return 0 }
            let format = MessageFormat(verbose: options.verbose, format: options.format,
                                       endOfLine: !options.noEndOfLine)
            var printed = 0
            for try await message in subscription {
                if options.filterOut.contains(where: { TopicFilter.matches($0, topicName: message.topic) }) {
                    continue
                }
                if options.noStaleRetained && message.retain { continue }
                if options.retainedOnly && !message.retain { return 0 }
                let bytes = format.render(message)
                FileHandle.standardOutput.write(Data(bytes))
                printed += 1
                if let count = options.count, printed >= count { return 0 }
            }
            return 0
        } catch let error as MQTTClientError {
            throw ClientRun.exit(for: error, options: options)
        }
    }
}

/// Reason codes in plain words ("Not authorized").
enum MQTTClientErrorPhrase {
    static func phrase(_ code: ReasonCode) -> String {
        String(code.description.drop { $0 != " " }.dropFirst())
    }
}
