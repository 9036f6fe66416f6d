import ArgumentParser
import Foundation
import MQTTClient
import MQTTCore

/// What `tern pub` and `tern sub` share: parsing with Mosquitto's error texts and exit codes, connecting, and
/// reporting failures in plain words.
enum ClientRun {
    /// Parses `arguments`, printing usage errors as mosquitto_pub/_sub do (exit code 1) and the help text for
    /// `--help` (exit code 0).
    static func options(_ arguments: [String], tool: ClientOptions.Tool, usage: String) throws -> ClientOptions {
        do {
            guard let options = try ClientOptions.parse(arguments, tool: tool) else {
                print(usage)
                throw ExitCode.success
            }
            return options
        } catch let error as ClientOptions.UsageError {
            printError("Error: \(error.text)\n\nUse 'tern \(tool.rawValue) --help' to see usage.")
            throw ExitCode(1)
        }
    }

    /// Connects, or exits as Mosquitto's clients do: 1 when the server cannot be reached, the CONNACK's return
    /// code (3.1.1) or reason code (5.0) when it refuses the connection.
    static func connect(_ client: MQTTClient, options: ClientOptions) async throws {
        do {
            try await client.connect()
        } catch let error as MQTTClientError {
            throw exit(for: error, options: options)
        }
    }

    static func exit(for error: MQTTClientError, options: ClientOptions) -> ExitCode {
        switch error {
        case .connectionRefused(let code, let text):
            if !options.quiet {
                let detail = text.map { " (\($0))" } ?? ""
                if options.version == .v5 {
                    printError("Connection error: \(code.description.drop { $0 != " " }.dropFirst())\(detail)")
                } else {
                    printError("Connection error: Connection Refused: \(v3Phrase(code)).")
                }
            }
            return ExitCode(Int32(options.version == .v5 ? code.rawValue : code.connectReturnCode))
        case .connectionClosed(let text):
            if !options.quiet { printError("Error: " + text.prefix(1).uppercased() + text.dropFirst()) }
            return ExitCode(1)
        default:
            if !options.quiet { printError("Error: \(error)") }
            return ExitCode(1)
        }
    }

    private static func v3Phrase(_ code: ReasonCode) -> String {
        switch code.connectReturnCode {
        case 1: "unacceptable protocol version"
        case 2: "identifier rejected"
        case 3: "broker unavailable"
        case 4: "bad user name or password"
        case 5: "not authorised"
        default: "unknown reason"
        }
    }

    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
