import ArgumentParser
import Foundation
import MQTTClient
import MQTTCore
import NIOCore

/// `tern pub`: publish one message (or one per line of standard input), with mosquitto_pub's options.
struct Pub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a message, with mosquitto_pub's options (tern pub --help lists them).",
        helpNames: [])

    @Argument(parsing: .captureForPassthrough, help: "mosquitto_pub options, e.g. -h HOST -t TOPIC -m MESSAGE")
    var arguments: [String] = []

    static let usage = """
        tern pub: publish MQTT messages (the options of mosquitto_pub).

        Usage: tern pub {[-h host] [-p port] [-u username] [-P password] -t topic | -L URL}
                        {-f file | -l | -n | -m message | -s}
                        [-c] [-k keepalive] [-q qos] [-r] [--repeat N] [--repeat-delay seconds] [-x session-expiry]
                        [-i id] [-I id_prefix] [-d] [--quiet] [-V mqttv5|mqttv311|mqttv31]
                        [--will-topic topic [--will-payload payload] [--will-qos qos] [--will-retain]]
                        [--cafile file] [--cert file --key file] [--insecure] [--auth-method SCRAM-SHA-512]
                        [-D command identifier value]...
               tern pub --help

         -L : mqtt://[user[:password]@]host[:port]/topic, or mqtts://, ws://, wss:// (then -t gives the topic)
         --auth-method SCRAM-SHA-512 : MQTT 5 enhanced authentication with -u and -P; the password is not sent
         -D : an MQTT 5 property, e.g. -D publish user-property name value, -D publish content-type text/plain
         -l : send each line of standard input as a message; -s : all of standard input as one message
        Exit status: 0 on success, 1 on errors, the CONNACK code when the broker refuses the connection.
        """

    func run() async throws {
        let options = try ClientRun.options(arguments, tool: .pub, usage: Self.usage)
        let client = MQTTClient(configuration: try options.configuration())
        try await ClientRun.connect(client, options: options)
        if options.debug { ClientRun.printError("Client connected to \(options.host)") }
        let topic = options.topics[0]
        let properties = options.properties(for: "publish")
        do {
            switch options.payload! {
            case .stdinLines:
                while let line = readLine(strippingNewline: true) {
                    try await send(client, topic, ByteBuffer(string: line), options, properties)
                }
            case .message(let text):
                try await repeated(options) { try await send(client, topic, ByteBuffer(string: text), options, properties) }
            case .null:
                try await repeated(options) { try await send(client, topic, ByteBuffer(), options, properties) }
            case .file(let path):
                guard let data = FileManager.default.contents(atPath: path) else {
                    ClientRun.printError("Error: Unable to read file \"\(path)\".")
                    try? await client.disconnect()
                    throw ExitCode(1)
                }
                try await repeated(options) { try await send(client, topic, ByteBuffer(bytes: data), options, properties) }
            case .stdinWhole:
                let data = FileHandle.standardInput.readDataToEndOfFile()
                try await repeated(options) { try await send(client, topic, ByteBuffer(bytes: data), options, properties) }
            }
        } catch let error as MQTTClientError {
            try? await client.disconnect()
            throw ClientRun.exit(for: error, options: options)
        }
        try await client.disconnect(properties: options.properties(for: "disconnect"))
    }

    private func repeated(_ options: ClientOptions, _ body: () async throws -> Void) async throws {
        for round in 0..<options.repeatCount {
            if round > 0 && options.repeatDelay > 0 { try await Task.sleep(for: .seconds(options.repeatDelay)) }
            try await body()
        }
    }

    private func send(_ client: MQTTClient, _ topic: String, _ payload: ByteBuffer, _ options: ClientOptions,
                      _ properties: Properties) async throws
    {
        let result = try await client.publish(to: topic, payload: payload, qos: options.qos, retain: options.retain,
                                              properties: properties)
        if options.debug {
            ClientRun.printError("Client sent PUBLISH (q\(options.qos.rawValue), r\(options.retain ? 1 : 0), '\(topic)', ... (\(payload.readableBytes) bytes)) -> \(result.reasonCode)")
        }
    }
}
