import Foundation
import MQTTClient
import MQTTCore
import NIOCore

/// The options `tern pub` and `tern sub` share with `mosquitto_pub` and `mosquitto_sub`, parsed the way those
/// tools parse them (single-dash letters, repeated `-t`, `-D command identifier value`, `-L URL`).
struct ClientOptions {
    enum Tool: String {
        case pub, sub
    }

    enum PayloadSource {
        case message(String)
        case file(String)
        case stdinLines
        case stdinWhole
        case null
    }

    let tool: Tool
    var host = "localhost"
    var port: Int?
    var transport = MQTTClientConfiguration.Transport.tcp
    var webSocketPath = "/mqtt"
    var topics: [String] = []
    var filterOut: [String] = []
    var unsubscribeTopics: [String] = []
    var payload: PayloadSource?
    var qos = QoS.atMostOnce
    var retain = false
    var clientIdentifier: String?
    var idPrefix: String?
    var username: String?
    var password: String?
    /// `--auth-method`: MQTT 5 enhanced authentication instead of sending the password (`SCRAM-SHA-512`).
    var authenticationMethod: String?
    var keepAlive: UInt16 = 60
    var version = ProtocolVersion.v3_1_1
    var properties: [(command: String, property: Property)] = []
    var willTopic: String?
    var willPayload: String?
    var willQoS = QoS.atMostOnce
    var willRetain = false
    var caFile: String?
    var certFile: String?
    var keyFile: String?
    var insecure = false
    var cleanSession = true
    var sessionExpiry: UInt32?
    var count: Int?
    var timeout: Int?
    var verbose = false
    var format: String?
    var noStaleRetained = false
    var exitAfterSubscribe = false
    var noEndOfLine = false
    var retainedOnly = false
    var quiet = false
    var debug = false
    var repeatCount = 1
    var repeatDelay = 0.0

    /// A command-line mistake, reported as `Error: TEXT` followed by the usage hint, exit code 1.
    struct UsageError: Error {
        var text: String
    }

    /// Parses the arguments; `--help` is returned as `nil`.
    static func parse(_ arguments: [String], tool: Tool) throws(UsageError) -> ClientOptions? {
        var options = ClientOptions(tool: tool)
        var index = 0
        func value(_ name: String, _ what: String) throws(UsageError) -> String {
            index += 1
            guard index < arguments.count else {
                throw UsageError(text: "\(name) argument given but no \(what) specified.")
            }
            return arguments[index]
        }
        func integer(_ name: String, _ what: String, _ range: ClosedRange<Int>) throws(UsageError) -> Int {
            let text = try value(name, what)
            guard let number = Int(text), range.contains(number) else {
                throw UsageError(text: "Invalid \(what) given: \(text)")
            }
            return number
        }
        func qos(_ name: String) throws(UsageError) -> QoS {
            let text = try value(name, "QoS")
            guard let number = UInt8(text), let qos = QoS(rawValue: number) else {
                throw UsageError(text: "Invalid QoS given: \(text)")
            }
            return qos
        }
        func setPayload(_ source: PayloadSource) throws(UsageError) {
            if options.payload != nil { throw UsageError(text: "Only one type of message can be sent at once.") }
            options.payload = source
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "--help": return nil
            case "-h", "--host": options.host = try value(argument, "host")
            case "-p", "--port": options.port = try integer(argument, "port", 1...65_535)
            case "-t", "--topic":
                let topic = try value(argument, "topic")
                options.topics.append(topic)
            case "-T", "--filter-out": options.filterOut.append(try value(argument, "topic filter"))
            case "-U", "--unsubscribe": options.unsubscribeTopics.append(try value(argument, "unsubscribe topic"))
            case "-m", "--message": try setPayload(.message(try value(argument, "message")))
            case "-f", "--file": try setPayload(.file(try value(argument, "file")))
            case "-l", "--stdin-line": try setPayload(.stdinLines)
            case "-s", "--stdin-file": try setPayload(.stdinWhole)
            case "-n", "--null-message": try setPayload(.null)
            case "-q", "--qos": options.qos = try qos(argument)
            case "-r", "--retain": options.retain = true
            case "-i", "--id": options.clientIdentifier = try value(argument, "id")
            case "-I", "--id-prefix": options.idPrefix = try value(argument, "id prefix")
            case "-u", "--username": options.username = try value(argument, "username")
            case "-P", "--pw": options.password = try value(argument, "password")
            case "--auth-method": options.authenticationMethod = try value(argument, "authentication method")
            case "-k", "--keepalive": options.keepAlive = UInt16(try integer(argument, "keepalive", 0...65_535))
            case "-V", "--protocol-version":
                let text = try value(argument, "protocol version")
                switch text {
                case "mqttv5", "5": options.version = .v5
                case "mqttv311", "311", "v311": options.version = .v3_1_1
                case "mqttv31", "31", "v31": options.version = .v3_1
                default: throw UsageError(text: "Invalid protocol version argument given.")
                }
            case "-D", "--property":
                options.properties.append(try parseProperty(&index, arguments, tool: tool))
            case "--will-topic": options.willTopic = try value(argument, "will topic")
            case "--will-payload": options.willPayload = try value(argument, "will payload")
            case "--will-qos": options.willQoS = try qos(argument)
            case "--will-retain": options.willRetain = true
            case "--cafile": options.caFile = try value(argument, "cafile")
            case "--cert": options.certFile = try value(argument, "cert")
            case "--key": options.keyFile = try value(argument, "key")
            case "--insecure": options.insecure = true
            case "-c", "--disable-clean-session": options.cleanSession = false
            case "-x":
                let text = try value(argument, "session expiry interval")
                if text == "-1" || text == "∞" {
                    options.sessionExpiry = UInt32.max
                } else if let number = UInt32(text) {
                    options.sessionExpiry = number
                } else {
                    throw UsageError(text: "Invalid session expiry interval given: \(text)")
                }
            case "-C": options.count = try integer(argument, "count", 1...Int.max)
            case "-W": options.timeout = try integer(argument, "timeout", 1...3_600_000)
            case "-v", "--verbose": options.verbose = true
            case "-F": options.format = try value(argument, "format")
            case "-R": options.noStaleRetained = true
            case "-E": options.exitAfterSubscribe = true
            case "-N": options.noEndOfLine = true
            case "--retained-only": options.retainedOnly = true
            case "--quiet": options.quiet = true
            case "-d", "--debug": options.debug = true
            case "--repeat": options.repeatCount = try integer(argument, "repeat count", 1...Int.max)
            case "--repeat-delay":
                let text = try value(argument, "repeat delay")
                guard let seconds = Double(text), seconds >= 0 else {
                    throw UsageError(text: "Invalid repeat delay given: \(text)")
                }
                options.repeatDelay = seconds
            case "-L", "--url": try options.apply(url: try value(argument, "URL"))
            case "--ws-path": options.webSocketPath = try value(argument, "path")
            default:
                throw UsageError(text: "Unknown option '\(argument)'.")
            }
            index += 1
        }
        try options.validate()
        return options
    }

    /// `mqtt://[user[:password]@]host[:port]/topic`, and `mqtts://`, `ws://`, `wss://`.
    mutating func apply(url text: String) throws(UsageError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty
        else {
            throw UsageError(text: "Unsupported URL scheme.")
        }
        switch scheme {
        case "mqtt": transport = .tcp
        case "mqtts": transport = .tls
        case "ws": transport = .webSocket
        case "wss": transport = .secureWebSocket
        default: throw UsageError(text: "Unsupported URL scheme.")
        }
        self.host = host
        port = components.port
        if let user = components.user { username = user.removingPercentEncoding ?? user }
        if let password = components.password { self.password = password.removingPercentEncoding ?? password }
        var path = components.percentEncodedPath
        if path.hasPrefix("/") { path.removeFirst() }
        if transport == .webSocket || transport == .secureWebSocket {
            // For WebSocket URLs the path is the HTTP path; the topic comes from -t.
            if !path.isEmpty { webSocketPath = "/" + path }
        } else if !path.isEmpty {
            topics.append(path.removingPercentEncoding ?? path)
        }
    }

    private func validate() throws(UsageError) {
        switch tool {
        case .pub:
            guard topics.count == 1, payload != nil else {
                if topics.count > 1 { throw UsageError(text: "Only one topic can be given to publish to.") }
                throw UsageError(text: "Both topic and message must be supplied.")
            }
            do { try TopicName.validate(topics[0]) } catch {
                throw UsageError(text: "Invalid publish topic '\(topics[0])', does it contain '+' or '#'?")
            }
        case .sub:
            guard !topics.isEmpty else { throw UsageError(text: "You must specify a topic to subscribe to.") }
            for topic in topics + filterOut + unsubscribeTopics {
                if TopicFilterCheck.problem(topic) != nil {
                    throw UsageError(
                        text: "Invalid subscription topic '\(topic)', are all '+' and '#' wildcards correct?")
                }
            }
            if noStaleRetained && retainedOnly {
                throw UsageError(text: "-R and --retained-only cannot be used together.")
            }
        }
        if willPayload != nil && willTopic == nil {
            throw UsageError(text: "Will payload given, but no will topic given.")
        }
        if let willTopic {
            do { try TopicName.validate(willTopic) } catch {
                throw UsageError(text: "Invalid will topic '\(willTopic)', does it contain '+' or '#'?")
            }
        }
        if let authenticationMethod {
            let supported = SCRAMAuthenticator.methodName
            guard authenticationMethod == supported else {
                throw UsageError(
                    text: "Unsupported authentication method '\(authenticationMethod)' (\(supported) is supported).")
            }
            guard version == .v5 else {
                throw UsageError(text: "You must use MQTT v5 if you want to use an authentication method.")
            }
            guard username != nil, password != nil else {
                throw UsageError(text: "\(authenticationMethod) needs a username and a password (-u and -P).")
            }
        }
        if (certFile == nil) != (keyFile == nil) {
            throw UsageError(text: "Both certfile and keyfile must be provided if one of them is set.")
        }
        if version != .v5 && !properties.isEmpty {
            throw UsageError(text: "You must use MQTT v5 if you want to use properties.")
        }
        if !cleanSession && clientIdentifier == nil && idPrefix == nil {
            throw UsageError(text: "You must provide a client id if you are using the -c option.")
        }
    }

    /// `-D command identifier value` (`user-property` takes a name and a value).
    private static func parseProperty(_ index: inout Int, _ arguments: [String], tool: Tool)
        throws(UsageError) -> (command: String, property: Property)
    {
        func next() throws(UsageError) -> String {
            index += 1
            guard index < arguments.count else {
                throw UsageError(text: "-D argument given but not enough values specified.")
            }
            return arguments[index]
        }
        let command = try next().lowercased()
        guard ["connect", "publish", "subscribe", "unsubscribe", "disconnect", "will"].contains(command) else {
            throw UsageError(text: "Invalid command given in --property argument.")
        }
        let name = try next().lowercased()
        let text = try next()
        func number<T: FixedWidthInteger>(_: T.Type) throws(UsageError) -> T {
            guard let value = T(text) else { throw UsageError(text: "Invalid property value given: \(text)") }
            return value
        }
        let property: Property
        switch name {
        case "payload-format-indicator": property = .payloadFormatIndicator(try number(UInt8.self) == 1 ? .utf8 : .unspecified)
        case "message-expiry-interval": property = .messageExpiryInterval(try number(UInt32.self))
        case "content-type": property = .contentType(text)
        case "response-topic": property = .responseTopic(text)
        case "correlation-data": property = .correlationData(ByteBuffer(string: text))
        case "subscription-identifier": property = .subscriptionIdentifier(try number(UInt32.self))
        case "session-expiry-interval": property = .sessionExpiryInterval(try number(UInt32.self))
        case "receive-maximum": property = .receiveMaximum(try number(UInt16.self))
        case "maximum-packet-size": property = .maximumPacketSize(try number(UInt32.self))
        case "topic-alias-maximum": property = .topicAliasMaximum(try number(UInt16.self))
        case "request-response-information": property = .requestResponseInformation(try number(UInt8.self) == 1)
        case "request-problem-information": property = .requestProblemInformation(try number(UInt8.self) == 1)
        case "will-delay-interval": property = .willDelayInterval(try number(UInt32.self))
        case "reason-string": property = .reasonString(text)
        case "topic-alias": property = .topicAlias(try number(UInt16.self))
        case "user-property": property = .userProperty(UserProperty(text, try next()))
        default: throw UsageError(text: "Invalid property name given in --property argument.")
        }
        return (command, property)
    }

    /// The properties given with `-D` for one command.
    func properties(for command: String) -> Properties {
        Properties(properties.filter { $0.command == command }.map(\.property))
    }

    /// The client configuration these options describe.
    func configuration() throws -> MQTTClientConfiguration {
        let transportOptions = TransportOptions(
            host: host, port: port, transport: transport, webSocketPath: webSocketPath, caFile: caFile,
            certFile: certFile, keyFile: keyFile, insecure: insecure)
        var configuration = try transportOptions.configuration(protocolVersion: version)
        let pid = ProcessInfo.processInfo.processIdentifier
        if let clientIdentifier {
            configuration.clientIdentifier = clientIdentifier
        } else if let idPrefix {
            configuration.clientIdentifier = "\(idPrefix)\(pid)"
        } else if version != .v5 {
            configuration.clientIdentifier = "tern_\(tool.rawValue)_\(pid)"
        }
        configuration.cleanStart = cleanSession
        configuration.keepAlive = keepAlive
        if version == .v5 {
            configuration.sessionExpiryInterval = sessionExpiry ?? (cleanSession ? nil : UInt32.max)
        }
        configuration.username = username
        if authenticationMethod != nil, let username, let password {
            // The password proves itself in the exchange (AUTH packets) and never goes to the server.
            configuration.authenticator = SCRAMAuthenticator(username: username, password: password)
        } else {
            configuration.password = password.map { ByteBuffer(string: $0) }
        }
        if let willTopic {
            configuration.will = LastWill(topic: willTopic, payload: ByteBuffer(string: willPayload ?? ""),
                                          qos: willQoS, retain: willRetain, properties: properties(for: "will"))
        }
        let connect = properties(for: "connect")
        configuration.userProperties = connect.userProperties
        if let value = connect.receiveMaximum { configuration.receiveMaximum = value }
        if let value = connect.maximumPacketSize { configuration.maximumPacketSize = Int(value) }
        if let value = connect.topicAliasMaximum { configuration.topicAliasMaximum = value }
        if let value = connect.sessionExpiryInterval { configuration.sessionExpiryInterval = value }
        if connect.requestResponseInformation == true { configuration.requestResponseInformation = true }
        configuration.connectTimeout = .seconds(max(10, Int64(keepAlive)))
        return configuration
    }
}

/// Validation of a topic filter given on the command line (plain or `$share/NAME/FILTER`).
enum TopicFilterCheck {
    static func problem(_ filter: String) -> TopicError? {
        do {
            if try SharedSubscription(parsing: filter) == nil { try TopicFilter.validate(filter) }
            return nil
        } catch {
            return error
        }
    }
}
