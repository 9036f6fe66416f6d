import MQTTCore
import TernBroker

/// Reads configuration files line by line with Mosquitto 2.0's rules and builds a `BrokerConfiguration`.
///
/// The rules that shape a file, as mosquitto.conf(5) and Mosquitto's behaviour define them:
/// - `listener PORT [ADDRESS]` opens a listener; the listener settings after it, in the same file, are its own.
///   Each file starts outside any listener (an included file does not continue the main file's last listener).
/// - Listener settings outside any listener block belong to Mosquitto's deprecated default listener, which `port`
///   and `bind_address` open (port 1883 and every interface unless they say otherwise), wherever they are written.
///   Without those two, `max_connections`, `max_qos` and `max_topic_alias` there are broker-wide, and any other
///   listener setting is refused (Mosquitto would open an extra listener on port 1883, every interface, for it).
/// - Security settings (`allow_anonymous`, `password_file`, `acl_file`, `auto_id_prefix`,
///   `allow_zero_length_clientid`) are broker-wide wherever they are written unless `per_listener_settings true`
///   came first; then they belong to the current listener and must follow a `listener` line.
/// - `include_dir DIR` reads DIR's `*.conf` files at that point, in Mosquitto's order; only from the main file.
/// - Text settings (paths, prefixes, cipher lists) may be set once per listener or broker; other settings may be
///   repeated and the last one counts.
struct ConfigurationParser {
    /// What relative paths are resolved against.
    let currentDirectory: String
    /// Warnings so far, in the order of the lines.
    var warnings: [ConfigurationDiagnostic] = []

    /// Broker-wide settings as they are read; listeners and security are filled in by `resolve`.
    private var draft = BrokerConfiguration(listeners: [], isLocalOnly: false)
    private var listeners: [ListenerDraft] = []
    private var globalSecurity = SecurityDraft()
    private var perListenerSettings = false
    /// The first security setting read, which `per_listener_settings` may no longer change the meaning of.
    private var firstSecuritySetting: ConfigurationLine?
    /// Where each text setting was set, per listener (by index) or broker-wide (nil), to refuse a second one.
    private var textSettings: [TextSlot: ConfigurationLine] = [:]
    private var logDestinationsWritten = false
    private var logKindsWritten = false
    private var logFile: ConfigurationLine?
    /// Where the `http_*` settings other than `http_listener` were first written, for the error when
    /// `http_listener` is missing.
    private var firstHTTPSetting: ConfigurationLine?
    private var bridgeSeen = false
    private var mainFile = ""
    /// Listener settings written outside any listener block, in any file: the default listener's.
    private var outside: ListenerDraft?
    /// `max_connections` outside any listener block, as written (-1: no limit).
    private var outsideMaxConnections: Int?
    /// The first setting outside any listener block that only a listener can take (not one of the three that are
    /// broker-wide there), refused unless the default listener is opened.
    private var firstListenerOnlySetting: ConfigurationLine?
    /// `port`: the default listener's port, and the line that set it.
    private var defaultListenerPort: (port: Int, line: ConfigurationLine)?
    /// `bind_address`: the default listener's address, and the line that set it.
    private var defaultListenerAddress: (address: String, line: ConfigurationLine)?

    private struct TextSlot: Hashable {
        var listener: Int?
        var key: ConfigurationKey
    }

    init(currentDirectory: String) {
        self.currentDirectory = currentDirectory
    }

    /// Reads the main file and, through its `include_dir` lines, the included ones.
    mutating func read(mainFile path: String) throws(ConfigurationDiagnostic) {
        mainFile = ConfigurationFiles.absolute(path, from: currentDirectory)
        try read(file: path, absolutePath: mainFile, isMain: true)
    }

    /// The configuration the files describe, with Mosquitto 2.0's defaults for what they leave out.
    /// - Parameter defaultPort: the port of the loopback listeners when the files define no listener.
    func resolve(defaultPort: Int) throws(ConfigurationDiagnostic) -> BrokerConfiguration {
        var configuration = draft
        configuration.perListenerSettings = perListenerSettings
        try checkHTTP(configuration.http)
        var listeners = self.listeners
        if let defaultListener = try defaultListener() {
            listeners.append(defaultListener)  // opened last, as Mosquitto does
        } else {
            // No default listener: these three are the broker's, and nothing else may stand outside a listener.
            if let line = firstListenerOnlySetting {
                throw line.diagnostic(perListenerSettings && ConfigurationKey(rawValue: line.key)?.scope == .security
                    ? "with per_listener_settings true, this setting must come after a \"listener\" line (or a "
                        + "\"port\" line, which opens Mosquitto's default listener)"
                    : "must come after a \"listener\" line (written outside any listener, it configures Mosquitto's "
                        + "default listener, which needs a \"port\" or \"bind_address\" line)")
            }
            if let value = outsideMaxConnections { configuration.maxConnections = value < 0 ? 0 : value }
            if let qos = outside?.protocolLimits.maximumQoS { configuration.maximumQoS = qos }
            if let maximum = outside?.protocolLimits.topicAliasMaximum { configuration.topicAliasMaximum = maximum }
        }
        if listeners.isEmpty {
            // Mosquitto 2.0 forces anonymous access on in this mode; Tern honours an explicit `allow_anonymous false`.
            configuration.isLocalOnly = true
            configuration.security = globalSecurity.resolved(anonymousByDefault: true)
            configuration.listeners = BrokerConfiguration.loopbackListeners(port: defaultPort,
                                                                           security: configuration.security)
        } else {
            configuration.isLocalOnly = false
            configuration.security = globalSecurity.resolved(anonymousByDefault: false)
            var resolved: [BrokerConfiguration.Listener] = []
            for listener in listeners {
                let security = perListenerSettings
                    ? listener.security.resolved(anonymousByDefault: false) : configuration.security
                resolved.append(try listener.resolved(security: security))
            }
            configuration.listeners = resolved
        }
        if configuration.http != nil && configuration.http?.passwordFile == nil {
            configuration.http?.passwordFile = globalSecurity.passwordFile
        }
        return configuration
    }

    private mutating func read(file name: String, absolutePath: String, isMain: Bool) throws(ConfigurationDiagnostic) {
        let bytes: [UInt8]
        do throws(ConfigurationFiles.Failure) {
            bytes = try ConfigurationFiles.contents(of: absolutePath)
        } catch {
            throw ConfigurationDiagnostic(file: name, line: nil, message: "cannot read the file: \(error.reason)")
        }
        draft.files.append(name)
        var current: Int?
        for line in try ConfigurationLine.parse(bytes, file: name, warnings: &warnings) {
            try apply(line, listener: &current, isMain: isMain)
        }
    }

    // MARK: - One line

    private mutating func apply(_ line: ConfigurationLine, listener current: inout Int?,
                                isMain: Bool) throws(ConfigurationDiagnostic)
    {
        guard let key = ConfigurationKey(rawValue: line.key) else {
            try applyUnsupported(line)
            return
        }
        switch key.scope {
        case .structure:
            try applyStructure(key, line, listener: &current, isMain: isMain)
        case .global:
            try claim(key, line, listener: nil)
            try applyGlobal(key, line)
        case .listener:
            try claim(key, line, listener: current ?? Self.defaultListenerIndex)
            // Copied out and back: the value helpers record warnings on `self` while the listener changes.
            var listener = listenerDraft(at: current, for: line)
            try applyListener(key, line, to: &listener)
            store(listener, at: current)
            if current == nil {
                if key == .maxConnections { outsideMaxConnections = try integer(line) }
                if ![.maxConnections, .maxQoS, .maxTopicAlias].contains(key) && firstListenerOnlySetting == nil {
                    firstListenerOnlySetting = line
                }
            }
        case .security:
            if firstSecuritySetting == nil { firstSecuritySetting = line }
            guard perListenerSettings else {
                try claim(key, line, listener: nil, insideListenerBlock: current != nil)
                var security = globalSecurity
                try applySecurity(key, line, to: &security)
                globalSecurity = security
                return
            }
            // Per listener: outside any listener block, the default listener's.
            try claim(key, line, listener: current ?? Self.defaultListenerIndex)
            var listener = listenerDraft(at: current, for: line)
            try applySecurity(key, line, to: &listener.security)
            store(listener, at: current)
            if current == nil && firstListenerOnlySetting == nil { firstListenerOnlySetting = line }
        }
    }

    /// The listener a line configures: its block's (`current`), or outside any block the default listener's.
    private func listenerDraft(at current: Int?, for line: ConfigurationLine) -> ListenerDraft {
        current.map { listeners[$0] } ?? outside ?? ListenerDraft(line: line, port: 1883, address: nil)
    }

    private mutating func store(_ listener: ListenerDraft, at current: Int?) {
        if let current { listeners[current] = listener } else { outside = listener }
    }

    /// The port of a `listener` or `port` line.
    private static func portNumber(_ written: some StringProtocol, _ line: ConfigurationLine)
        throws(ConfigurationDiagnostic) -> Int
    {
        guard let port = Int(written), (0...65_535).contains(port) else {
            throw line.diagnostic("\"\(written)\" is not a port number (0 to 65535)")
        }
        return port
    }

    /// Where the default listener's text settings are claimed (`TextSlot.listener`).
    private static let defaultListenerIndex = -1

    /// Mosquitto's default listener, when `port` or `bind_address` opens it: the settings written outside any
    /// listener block, on `port` (1883 without it) and `bind_address` (every interface without it).
    private func defaultListener() throws(ConfigurationDiagnostic) -> ListenerDraft? {
        guard let line = defaultListenerPort?.line ?? defaultListenerAddress?.line else { return nil }
        var listener = outside ?? ListenerDraft(line: line, port: 1883, address: nil)
        listener.line = line
        listener.port = defaultListenerPort?.port ?? 1883
        listener.address = defaultListenerAddress?.address
        if listener.port != 0, let earlier = listeners.first(where: {
            $0.port == listener.port && $0.address == listener.address })
        {
            throw line.diagnostic("port \(listener.port)\(listener.address.map { " on \($0)" } ?? "") is already a "
                                  + "listener at \(earlier.line.location)")
        }
        return listener
    }

    /// Records where a text setting is set, for the broker (`listener` nil) or a listener; refuses a second one.
    private mutating func claim(_ key: ConfigurationKey, _ line: ConfigurationLine, listener: Int?,
                                insideListenerBlock: Bool = false) throws(ConfigurationDiagnostic)
    {
        guard key.isText else { return }
        let slot = TextSlot(listener: listener, key: key)
        if let first = textSettings[slot] {
            var reason = "already set at \(first.location)"
            if key.scope == .security && listener == nil && insideListenerBlock {
                reason += " (per_listener_settings is false, so security settings apply to the whole broker even "
                    + "inside a listener block)"
            }
            throw line.diagnostic(reason)
        }
        textSettings[slot] = line
    }

    private mutating func applyStructure(_ key: ConfigurationKey, _ line: ConfigurationLine,
                                         listener current: inout Int?, isMain: Bool) throws(ConfigurationDiagnostic)
    {
        switch key {
        case .listener:
            let words = line.words
            guard let first = words.first else { throw line.diagnostic("missing port number") }
            let port = try Self.portNumber(first, line)
            // Mosquitto takes a second word starting with `#` as a comment, not an address.
            let address = words.count > 1 && !words[1].hasPrefix("#") ? String(words[1]) : nil
            if let address, address.hasPrefix("/") {
                throw line.diagnostic("\"\(address)\": Unix socket listeners are not supported")
            }
            if address != nil && words.count > 2 {
                warnings.append(line.diagnostic(
                    "text after the address ignored: \"\(words[2...].joined(separator: " "))\""))
            }
            if port != 0, let earlier = listeners.first(where: { $0.port == port && $0.address == address }) {
                throw line.diagnostic("port \(port)\(address.map { " on \($0)" } ?? "") is already a listener "
                                      + "at \(earlier.line.location)")
            }
            listeners.append(ListenerDraft(line: line, port: port, address: address))
            current = listeners.count - 1
        case .port:
            // Mosquitto's deprecated way of opening its default listener (it warns, and so does Tern).
            let port = try Self.portNumber(try word(line), line)
            defaultListenerPort = (port, line)
            warnings.append(line.diagnostic("deprecated in Mosquitto 2.0: opens the default listener; a "
                                            + "\"listener \(port)\" line says the same"))
        case .bindAddress:
            let address = try word(line)
            if address.hasPrefix("/") {
                throw line.diagnostic("\"\(address)\": Unix socket listeners are not supported")
            }
            defaultListenerAddress = (address, line)
            warnings.append(line.diagnostic("deprecated in Mosquitto 2.0: the default listener's address; the "
                                            + "\"listener\" line's second word says the same"))
        case .perListenerSettings:
            let value = try bool(line)
            if value != perListenerSettings, let first = firstSecuritySetting {
                throw line.diagnostic("must come before every security setting (\(first.key) is set at "
                                      + "\(first.location))")
            }
            perListenerSettings = value
        case .includeDirectory:
            guard isMain else {
                warnings.append(line.diagnostic("only read in the main configuration file, as Mosquitto does; "
                                                + "ignored"))
                return
            }
            let written = try text(line)
            let directory = ConfigurationFiles.absolute(written, from: currentDirectory)
            let names: [String]
            do throws(ConfigurationFiles.Failure) {
                names = try ConfigurationFiles.configurationFiles(in: directory)
            } catch {
                throw line.diagnostic("cannot read the directory \"\(written)\": \(error.reason)")
            }
            for name in names {
                let absolutePath = directory + "/" + name
                if absolutePath == mainFile {
                    throw line.diagnostic("\"\(written)\" holds the main configuration file, which would be read "
                                          + "twice")
                }
                let shown = written.hasSuffix("/") ? written + name : written + "/" + name
                try read(file: shown, absolutePath: absolutePath, isMain: false)
            }
        default:
            preconditionFailure("\(key) is not a structure setting")
        }
    }

    private mutating func applyListener(_ key: ConfigurationKey, _ line: ConfigurationLine,
                                        to listener: inout ListenerDraft) throws(ConfigurationDiagnostic)
    {
        switch key {
        case .socketDomain:
            listener.socketDomain = try choice(line, [("ipv4", .ipv4), ("ipv6", .ipv6)])
        case .protocol:
            listener.transport = try choice(line, [("mqtt", .mqtt), ("websockets", .websockets)])
        case .maxConnections:
            let value = try integer(line)
            listener.maxConnections = value < 0 ? nil : value
        case .maxQoS:
            listener.protocolLimits.maximumQoS = try qos(line)
        case .maxTopicAlias:
            listener.protocolLimits.topicAliasMaximum = UInt16(try integer(line, in: 0...65_535))
        case .mountPoint:
            let prefix = try text(line)
            do throws(TopicError) {
                listener.protocolLimits.mountPoint = try MountPoint(prefix)
            } catch {
                throw line.diagnostic("\"\(prefix)\" cannot start a topic: \(error)")
            }
        case .httpDirectory:
            listener.httpDirectory = try path(line)
        case .websocketsOrigin:
            listener.allowedOrigins.append(try word(line))
        default:
            // A switch set to false (`require_certificate false`) asks for nothing, on a plain listener too.
            if try applyTLS(key, line, to: &listener) {
                if !listener.tlsKeys.contains(key.rawValue) { listener.tlsKeys.append(key.rawValue) }
            } else {
                listener.tlsKeys.removeAll { $0 == key.rawValue }
            }
        }
    }

    /// Returns whether the setting asks for TLS: all do, except a switch set to false.
    private mutating func applyTLS(_ key: ConfigurationKey, _ line: ConfigurationLine,
                                   to listener: inout ListenerDraft) throws(ConfigurationDiagnostic) -> Bool
    {
        switch key {
        case .cafile: listener.caFile = try path(line)
        case .capath: listener.caPath = try path(line)
        case .certfile: listener.certificateFile = try path(line)
        case .keyfile: listener.keyFile = try path(line)
        case .dhparamfile: listener.dhParametersFile = try path(line)
        case .ciphers: listener.ciphers = try text(line)
        case .ciphersTLS13: listener.ciphersTLS13 = try text(line)
        case .requireCertificate:
            listener.requireCertificate = try bool(line)
            return listener.requireCertificate == true
        case .useIdentityAsUsername:
            listener.useIdentityAsUsername = try bool(line)
            return listener.useIdentityAsUsername == true
        case .useSubjectAsUsername:
            listener.useSubjectAsUsername = try bool(line)
            return listener.useSubjectAsUsername == true
        case .tlsVersion:
            let written = try text(line)
            guard let version = BrokerConfiguration.TLS.Version(rawValue: written) else {
                let known = BrokerConfiguration.TLS.Version.allCases.map(\.rawValue).joined(separator: ", ")
                throw line.diagnostic("\"\(written)\" is not one of \(known)")
            }
            listener.minimumTLSVersion = version
        default:
            preconditionFailure("\(key) is not a listener setting")
        }
        return true
    }

    private mutating func applySecurity(_ key: ConfigurationKey, _ line: ConfigurationLine,
                                        to security: inout SecurityDraft) throws(ConfigurationDiagnostic)
    {
        switch key {
        case .allowAnonymous: security.allowAnonymous = try bool(line)
        case .passwordFile: security.passwordFile = try path(line)
        case .aclFile: security.aclFile = try path(line)
        case .autoIDPrefix: security.autoIDPrefix = try text(line)
        case .allowZeroLengthClientID: security.allowZeroLengthClientID = try bool(line)
        case .useUsernameAsClientID: security.useUsernameAsClientID = try bool(line)
        default: preconditionFailure("\(key) is not a security setting")
        }
    }

    private mutating func applyGlobal(_ key: ConfigurationKey, _ line: ConfigurationLine) throws(ConfigurationDiagnostic) {
        switch key {
        case .maxKeepalive:
            draft.maxKeepAlive = UInt16(try integer(line, in: 10...65_535))
        case .maxPacketSize:
            let value = try integer(line)
            let largest = MQTTPacketDecoder.largestPossiblePacketSize
            guard value == 0 || (20...largest).contains(value) else {
                throw line.diagnostic("\(value) is not between 20 and \(largest) (or 0 for no limit)")
            }
            draft.maxPacketSize = value == 0 ? nil : value
        case .clientIDPrefixes:
            draft.clientIDPrefixes = try text(line)
        case .messageSizeLimit:
            // MQTT's largest payload, as Mosquitto bounds it.
            draft.messageSizeLimit = try integer(line, in: 0...268_435_455)
        case .maxInflightMessages:
            // As Mosquitto: a negative value, or 65535, means no limit.
            let value = try integer(line, in: Int.min...65_535)
            draft.maxInflightMessages = value < 0 || value == 65_535 ? 0 : value
        case .maxInflightBytes:
            draft.maxInflightBytes = max(0, try integer(line))
        case .maxQueuedMessages:
            draft.maxQueuedMessages = max(0, try integer(line))
        case .maxQueuedBytes:
            draft.maxQueuedBytes = max(0, try integer(line))
        case .maxQueuedMessagesTotal:
            draft.maxQueuedMessagesTotal = max(0, try integer(line))
        case .queueQoS0Messages:
            draft.queueQoS0Messages = try bool(line)
        case .retainAvailable:
            draft.retainAvailable = try bool(line)
        case .persistentClientExpiration:
            draft.persistentClientExpiration = try duration(line)
        case .upgradeOutgoingQoS:
            draft.upgradeOutgoingQoS = try bool(line)
        case .publisherFlowControl:
            draft.publisherFlowControl = try bool(line)
        case .setTCPNoDelay:
            draft.setTCPNoDelay = try bool(line)
        case .sysInterval:
            draft.sysInterval = try integer(line, in: 0...65_535)
        case .persistence, .retainedPersistence:
            draft.persistence.enabled = try bool(line)
        case .pidFile:
            draft.pidFile = try path(line)
        case .persistenceLocation:
            draft.persistence.location = try path(line)
        case .persistenceFile:
            draft.persistence.file = try text(line)
        case .autosaveInterval:
            draft.persistence.autosaveInterval = max(0, try integer(line))
        case .persistenceCommitWindow:
            draft.persistence.commitWindowMilliseconds = try integer(line, in: 0...1000)
        case .persistenceSync:
            draft.persistence.sync = try choice(line, SQLiteStore.SyncMode.allCases.map { ($0.rawValue, $0) })
        case .queuePageSize:
            draft.persistence.queuePageSize = try integer(line, in: 0...1_000_000)
        case .logDest:
            try applyLogDestination(line)
        case .logType:
            // `none` empties the set, `all` fills it, a type adds itself; the defaults go at the first line.
            let kinds = BrokerConfiguration.LogSettings.Kind.allCases
            let value: Set<BrokerConfiguration.LogSettings.Kind>? = try choice(
                line, [("none", nil), ("all", Set(kinds))] + kinds.map { ($0.rawValue, [$0]) })
            if !logKindsWritten { draft.logging.kinds = [] }
            logKindsWritten = true
            if let value { draft.logging.kinds.formUnion(value) } else { draft.logging.kinds = [] }
        case .connectionMessages:
            draft.logging.connectionMessages = try bool(line)
        case .logTimestamp:
            draft.logging.timestamps = try bool(line)
        case .logTimestampFormat:
            draft.logging.timestampFormat = try text(line)
        case .serverKeepAlive:
            draft.serverKeepAlive = UInt16(try integer(line, in: 0...65_535))
        case .topicAliasMaximum:
            draft.topicAliasMaximum = UInt16(try integer(line, in: 0...65_535))
        case .receiveMaximum:
            draft.receiveMaximum = UInt16(try integer(line, in: 1...65_535))
        case .connectTimeout:
            draft.connectTimeout = try integer(line, in: 1...86_400)
        case .maxConnectionRate:
            draft.maxConnectionRate = try integer(line, in: 0...1_000_000)
        case .maxClientIDLength:
            draft.maxClientIDLength = try integer(line, in: 1...65_535)
        case .maxTopicLength:
            draft.maxTopicLength = try integer(line, in: 1...65_535)
        case .maxTopicLevels:
            draft.maxTopicLevels = try integer(line, in: 0...65_535)
        case .maxSubscriptionsPerClient:
            draft.maxSubscriptionsPerClient = try integer(line, in: 0...Int(Int32.max))
        case .maxUserProperties:
            draft.maxUserProperties = try integer(line, in: 0...65_535)
        case .maxPublishRate:
            draft.maxPublishRate = try integer(line, in: 0...Int(Int32.max))
        case .maxPublishBytesRate:
            draft.maxPublishBytesRate = try integer(line, in: 0...Int(Int32.max))
        case .maxWriteBuffer:
            draft.maxWriteBuffer = try integer(line, in: 4096...Int(Int32.max))
        case .eventLoops:
            draft.eventLoops = try integer(line, in: 1...256)
        case .httpListener, .httpAdminUsers, .httpReadOnlyUsers, .httpAdminToken, .httpReadOnlyToken,
             .httpPasswordFile, .httpCertfile, .httpKeyfile, .httpProtectMetrics:
            try applyHTTP(key, line)
        case .logFormat:
            draft.logging.format = try choice(line, [("text", .text), ("json", .json)])
        default:
            preconditionFailure("\(key) is not a broker-wide setting")
        }
    }

    /// The `http_*` settings (Tern's HTTP listener); they may come in any order, `http_listener` included.
    private mutating func applyHTTP(_ key: ConfigurationKey, _ line: ConfigurationLine) throws(ConfigurationDiagnostic) {
        var http = draft.http ?? BrokerConfiguration.HTTPSettings(port: -1)
        if key != .httpListener && firstHTTPSetting == nil { firstHTTPSetting = line }
        switch key {
        case .httpListener:
            let words = line.words
            guard let first = words.first else { throw line.diagnostic("missing value") }
            guard let port = Int(first), (0...65_535).contains(port) else {
                throw line.diagnostic("\"\(first)\" is not a port between 0 and 65535")
            }
            guard words.count <= 2 else { throw line.diagnostic("expected a port and at most one address") }
            if http.port >= 0 { throw line.diagnostic("only one http_listener may be given") }
            http.port = port
            http.address = words.count == 2 ? String(words[1]) : nil
        case .httpAdminUsers:
            http.adminUsers += line.words.map(String.init)
            if http.adminUsers.isEmpty { throw line.diagnostic("missing value") }
        case .httpReadOnlyUsers:
            http.readOnlyUsers += line.words.map(String.init)
            if http.readOnlyUsers.isEmpty { throw line.diagnostic("missing value") }
        case .httpAdminToken:
            http.adminToken = try text(line)
        case .httpReadOnlyToken:
            http.readOnlyToken = try text(line)
        case .httpPasswordFile:
            http.passwordFile = try path(line)
        case .httpCertfile:
            http.certificateFile = try path(line)
        case .httpKeyfile:
            http.keyFile = try path(line)
        case .httpProtectMetrics:
            http.protectMetrics = try bool(line)
        default:
            preconditionFailure("\(key) is not an http setting")
        }
        draft.http = http
    }

    /// The HTTP settings make sense together: a listener, a password file for named users, both TLS files.
    private func checkHTTP(_ http: BrokerConfiguration.HTTPSettings?) throws(ConfigurationDiagnostic) {
        guard let http else { return }
        if http.port < 0, let line = firstHTTPSetting {
            throw line.diagnostic("http settings need an \"http_listener PORT [ADDRESS]\" line")
        }
        if (http.certificateFile == nil) != (http.keyFile == nil) {
            throw ConfigurationDiagnostic(file: draft.files.first ?? mainFile, line: nil,
                                          message: "http_certfile and http_keyfile must be given together")
        }
        let users = !http.adminUsers.isEmpty || !http.readOnlyUsers.isEmpty
        if users && http.passwordFile == nil && globalSecurity.passwordFile == nil {
            throw ConfigurationDiagnostic(file: draft.files.first ?? mainFile, line: nil, message: """
                http_admin_users and http_readonly_users log in with a password file: set password_file or \
                http_password_file
                """)
        }
    }

    private mutating func applyLogDestination(_ line: ConfigurationLine) throws(ConfigurationDiagnostic) {
        typealias Destination = BrokerConfiguration.LogSettings.Destination
        let words = line.words
        guard let first = words.first else { throw line.diagnostic("missing value") }
        var destination: Destination?
        if first == "file" {
            let written = ConfigurationLine.trimmingBlanks(line.value.dropFirst(4))
            guard !written.isEmpty else { throw line.diagnostic("missing file name after \"file\"") }
            if let logFile { throw line.diagnostic("only one log file may be given; one is set at \(logFile.location)") }
            logFile = line
            destination = .file(ConfigurationFiles.absolute(written, from: currentDirectory))
        } else {
            let named: [(String, Destination?)] = [("none", nil), ("stdout", .stdout), ("stderr", .stderr),
                                                   ("syslog", .syslog), ("topic", .topic), ("dlt", .dlt)]
            // `file` is handled above; it is listed so that the message names it.
            destination = try choice(line, named + [("file", nil)])
        }
        if !logDestinationsWritten { draft.logging.destinations = [] }
        logDestinationsWritten = true
        if let destination {
            if !draft.logging.destinations.contains(destination) { draft.logging.destinations.append(destination) }
        } else {
            draft.logging.destinations = []
        }
    }

    // MARK: - Settings Tern does not implement

    private mutating func applyUnsupported(_ line: ConfigurationLine) throws(ConfigurationDiagnostic) {
        if ConfigurationKey.isPluginOption(line.key) {
            throw line.diagnostic("plugins are not supported")
        }
        switch ConfigurationKey.unsupported[line.key] {
        case .refused(let reason):
            throw line.diagnostic(reason)
        case .ignored(let reason):
            warnings.append(line.diagnostic(reason))
        case .bridge:
            if line.key == "connection" {
                bridgeSeen = true
                warnings.append(line.diagnostic("bridges are not supported; this bridge and its settings are ignored"))
            } else if !bridgeSeen {
                warnings.append(line.diagnostic("bridge setting outside a bridge; ignored"))
            }
        case nil:
            var reason = "unknown setting; ignored"
            let lowercased = line.key.lowercased()
            if lowercased != line.key,
               ConfigurationKey(rawValue: lowercased) != nil || ConfigurationKey.unsupported[lowercased] != nil
            {
                reason += " (settings are case-sensitive: did you mean \(lowercased)?)"
            }
            warnings.append(line.diagnostic(reason))
        }
    }
}
