import MQTTCore
import TernBroker
import Testing
@testable import TernServer

/// Mosquitto 2.0's defaults and secure defaults, and the core settings a configuration produces.
@Suite struct ConfigurationDefaultsTests {
    @Test func withNoFileTheBrokerListensOnLoopbackOnlyAndLetsAnonymousClientsIn() {
        let configuration = BrokerConfiguration.default()
        #expect(configuration.isLocalOnly)
        #expect(configuration.listeners.map(\.address) == ["127.0.0.1", "::1"])
        #expect(configuration.listeners.map(\.port) == [1883, 1883])
        #expect(configuration.listeners.allSatisfy { $0.security.allowAnonymous && $0.tls == nil })
        #expect(configuration.listeners.allSatisfy { $0.transport == .mqtt && $0.maxConnections == nil })
        #expect(BrokerConfiguration.default(port: 0).listeners.map(\.port) == [0, 0])
        #expect(configuration.files.isEmpty)
    }

    @Test func theDefaultsOfMosquitto() {
        let configuration = BrokerConfiguration.default()
        #expect(configuration.maxKeepAlive == nil)
        #expect(configuration.maxPacketSize == nil)
        #expect(configuration.messageSizeLimit == 0)
        #expect(configuration.maxInflightMessages == 20)
        #expect(configuration.maxInflightBytes == 0)
        #expect(configuration.maxQueuedMessages == 1000)
        #expect(configuration.maxQueuedBytes == 0)
        #expect(!configuration.queueQoS0Messages)
        #expect(configuration.retainAvailable)
        #expect(configuration.persistentClientExpiration == nil)
        #expect(!configuration.upgradeOutgoingQoS)
        #expect(configuration.publisherFlowControl)
        #expect(!configuration.setTCPNoDelay)
        #expect(configuration.sysInterval == 10)
        // Tern's one deliberate difference: persistence is on (Mosquitto's default is off).
        #expect(configuration.persistence == .init(enabled: true, location: nil, file: "mosquitto.db",
                                                   autosaveInterval: 1800, commitWindowMilliseconds: 0, sync: .full))
        #expect(configuration.persistence.directory == "tern-data")
        #expect(configuration.logging.destinations == [.stderr])
        #expect(configuration.logging.kinds == [.error, .warning, .notice, .information])
        #expect(configuration.logging.connectionMessages)
        #expect(!configuration.perListenerSettings)
        #expect(configuration.security == .init(allowAnonymous: true, autoIDPrefix: "auto-",
                                                allowZeroLengthClientID: true))
        #expect(configuration.serverKeepAlive == nil)
        #expect(configuration.topicAliasMaximum == 10)
        #expect(configuration.receiveMaximum == 65_535)
        #expect(configuration.connectTimeout == 10)
        // Tern's limits (docs/limits.md).
        #expect(configuration.maxConnections == 0)
        #expect(configuration.maxConnectionRate == 0)
        #expect(configuration.maxClientIDLength == 65_535)
        #expect(configuration.maxTopicLength == 65_535)
        #expect(configuration.maxTopicLevels == 128)
        #expect(configuration.maxSubscriptionsPerClient == 0)
        #expect(configuration.maxUserProperties == 128)
        #expect(configuration.connectionLimits() == ConnectionLimits(publishRate: 0, bytesRate: 0, writeBuffer: 1 << 20))
    }

    @Test func aFileWithoutListenerListensOnLoopbackAtTheGivenPort() throws {
        let directory = try ConfigurationDirectory()
        // As Mosquitto 2.0: "Starting in local only mode", on 127.0.0.1 and ::1, port 1883 or -p.
        let configuration = try directory.configuration("max_queued_messages 10\npassword_file passwd\n", port: 1999)
        #expect(configuration.isLocalOnly)
        #expect(configuration.listeners.map(\.address) == ["127.0.0.1", "::1"])
        #expect(configuration.listeners.map(\.port) == [1999, 1999])
        #expect(configuration.listeners.allSatisfy { $0.security.allowAnonymous })
        #expect(configuration.listeners.allSatisfy { $0.security.passwordFile == directory.absolute("passwd") })
        #expect(configuration.maxQueuedMessages == 10)
    }

    @Test func inLocalOnlyModeAnExplicitAllowAnonymousFalseIsHonoured() throws {
        let directory = try ConfigurationDirectory()
        // Mosquitto 2.0 forces anonymous access on in local-only mode whatever the file says; Tern does what the
        // file says.
        let configuration = try directory.configuration("allow_anonymous false\npassword_file passwd\n")
        #expect(configuration.isLocalOnly)
        #expect(configuration.listeners.allSatisfy { !$0.security.allowAnonymous })
    }

    @Test func aFileWithAListenerRefusesAnonymousClientsUnlessAllowed() throws {
        let directory = try ConfigurationDirectory()
        let refusing = try directory.configuration("listener 1883\n", port: 1999)
        #expect(!refusing.isLocalOnly)
        #expect(refusing.listeners == [.init(port: 1883, security: .init(allowAnonymous: false))])
        #expect(!refusing.security.allowAnonymous)
        let allowing = try directory.configuration("listener 1883\nallow_anonymous true\n")
        #expect(allowing.listeners.map(\.security.allowAnonymous) == [true])
    }

    @Test(arguments: [("1h", 3_600), ("2h", 7_200), ("14d", 1_209_600), ("2w", 1_209_600), ("1m", 2_592_000),
                      ("1y", 31_536_000), ("136y", 4_288_896_000)])
    func durations(written: String, seconds: Int) throws {
        let directory = try ConfigurationDirectory()
        let configuration = try directory.configuration("persistent_client_expiration \(written)\n")
        #expect(configuration.persistentClientExpiration.map(Int.init) == seconds)
        #expect(configuration.brokerSettings().persistentSessionExpiry.map(Int.init) == seconds)
    }

    @Test func brokerSettingsCarryTheCoreSettings() throws {
        let directory = try ConfigurationDirectory()
        let configuration = try directory.configuration("""
            listener 1883
            max_keepalive 120
            max_packet_size 4096
            max_inflight_messages 7
            max_queued_messages 30
            queue_qos0_messages true
            retain_available false
            persistent_client_expiration 1d
            allow_zero_length_clientid false
            auto_id_prefix tern-
            server_keep_alive 45
            topic_alias_maximum 3
            receive_maximum 16
            connect_timeout 4
            """)
        let settings = configuration.brokerSettings()
        #expect(settings.maximumKeepAlive == 120)
        #expect(settings.maximumPacketSize == 4096)
        #expect(settings.maximumInflightMessages == 7)
        #expect(settings.maximumQueuedMessages == 30)
        #expect(settings.queueQoS0Messages)
        #expect(!settings.retainAvailable)
        #expect(settings.persistentSessionExpiry == 86_400)
        #expect(!settings.allowZeroLengthClientID)
        #expect(settings.assignedClientIDPrefix == "tern-")
        #expect(settings.serverKeepAlive == 45)
        #expect(settings.topicAliasMaximum == 3)
        #expect(settings.receiveMaximum == 16)
        #expect(settings.connectTimeout == 4)
    }

    @Test func theDefaultsGiveTheCoresDefaults() {
        let settings = BrokerConfiguration.default().brokerSettings()
        let core = BrokerSettings()
        #expect(settings.maximumPacketSize == core.maximumPacketSize)
        #expect(settings.maximumPacketSize == MQTTPacketDecoder.largestPossiblePacketSize)
        #expect(settings.receiveMaximum == core.receiveMaximum)
        #expect(settings.topicAliasMaximum == core.topicAliasMaximum)
        #expect(settings.retainAvailable == core.retainAvailable)
        #expect(settings.maximumInflightMessages == core.maximumInflightMessages)
        #expect(settings.maximumQueuedMessages == core.maximumQueuedMessages)
        #expect(settings.queueQoS0Messages == core.queueQoS0Messages)
        #expect(settings.serverKeepAlive == core.serverKeepAlive)
        #expect(settings.maximumKeepAlive == core.maximumKeepAlive)
        #expect(settings.connectTimeout == core.connectTimeout)
        #expect(settings.allowZeroLengthClientID == core.allowZeroLengthClientID)
        #expect(settings.assignedClientIDPrefix == core.assignedClientIDPrefix)
        #expect(settings.persistentSessionExpiry == core.persistentSessionExpiry)
    }

    @Test func loadingIsAPureFunctionOfTheFiles() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("conf.d/a.conf", "listener 8883\ncertfile s.pem\nkeyfile s.key\n")
        try directory.write("mosquitto.conf", "listener 1883\ninclude_dir conf.d\nfrobnicate 1\n")
        let first = try directory.load()
        let second = try directory.load()
        #expect(first.configuration == second.configuration)
        #expect(first.warnings == second.warnings)
        // A reload after an edit sees the edit.
        try directory.write("mosquitto.conf", "listener 1884\ninclude_dir conf.d\n")
        let reloaded = try directory.load()
        #expect(reloaded.configuration.listeners.map(\.port) == [1884, 8883])
        #expect(reloaded.warnings.isEmpty)
    }

    @Test func relativePathsResolveAgainstTheCurrentDirectory() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("etc/tern.conf", "listener 1883\npassword_file passwd\nacl_file ../acl\n")
        // Against the current directory, not the file's directory, as Mosquitto opens paths as given.
        let configuration = try directory.load("etc/tern.conf").configuration
        #expect(configuration.security.passwordFile == directory.absolute("passwd"))
        #expect(configuration.security.aclFile == String(directory.path.split(separator: "/").dropLast()
            .reduce("") { $0 + "/" + $1 }) + "/acl")
    }
}
