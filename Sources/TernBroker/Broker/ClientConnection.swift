import MQTTCore
import NIOCore

/// What the broker knows of one network connection.
///
/// A class: the broker reads a field or two of it per packet and per delivery, and reading a field of a struct
/// held in a dictionary copies the whole struct out first (a retain and a release of every field that holds a
/// reference: its state, names, alias tables); a reference costs one retain.
final class ClientConnection {
    enum State: Sendable {
        /// Waiting for CONNECT until the deadline [MQTT-3.1.0-1].
        case awaitingConnect(deadline: NIODeadline)
        /// CONNECT received, its credentials being checked; packets that follow it wait, unprocessed, until the
        /// connection is accepted (section 3.1.4). Indirect: held inline, the CONNECT made every connection's
        /// state as large as itself (about 230 bytes more per connection, for a state most never enter).
        indirect case authenticating(ConnectPacket, pending: [Packet], deadline: NIODeadline)
        /// CONNECT accepted for this client identifier.
        case connected(clientID: ClientIdentifier)
    }

    let id: ConnectionID
    var state: State
    /// False once the broker has forgotten the connection (`Broker.removeConnection`).
    var isOpen = true
    /// Whether the session's access rules let the client publish to any topic but the reserved ones (no access
    /// control list applies): a PUBLISH is then checked without looking the session up. Set with the rules.
    var publishesUnrestricted = false
    /// Where the broker keeps the connected client's session (set on CONNECT): acknowledgements and publications
    /// reach it without a hashed lookup of the client identifier.
    var sessionSlot = SessionSlot.none
    /// Whether CONNECT goes through `BrokerOutput.authenticate` before it is accepted.
    var requiresAuthentication: Bool
    /// The user the connection authenticated as; nil for anonymous clients.
    var username: String?
    /// The access control list the connection was accepted under; compiled into the session's rules on CONNECT.
    var accessControl: AccessControlList?
    /// The enhanced authentication method the client named in CONNECT; AUTH packets must name it too
    /// [MQTT-4.12.0-5]. Nil when the client did not use enhanced authentication [MQTT-4.12.0-7].
    var authenticationMethod: String?
    /// True while the server waits for the client's AUTH 0x18 (its answer to a challenge).
    var awaitsClientAuthentication = false
    /// While a re-authentication runs: when it must be over.
    var reauthenticationDeadline: NIODeadline?
    /// The listener's rules for client identifiers, when it has its own.
    var clientIdentifiers: ClientIdentifierRules?
    /// The listener's Maximum QoS and Topic Alias Maximum, or the broker's (set when the connection opens).
    var maximumQoS: QoS = .exactlyOnce
    var topicAliasMaximum: UInt16 = 0
    /// The listener's mount point: put before the topics and filters the client sends.
    var mountPoint = MountPoint.none
    /// Set when the connection opened beyond `maximumConnections` or `maximumConnectionRate`: its CONNECT is
    /// refused with this reason code.
    var admissionRefusal: ReasonCode?
    /// Known once CONNECT has been read.
    var protocolVersion: ProtocolVersion = .v5
    /// Seconds; 0 means no keep alive.
    var keepAlive: UInt16 = 0
    var lastActivity: NIODeadline
    /// Topic aliases the client has set on this connection (they do not outlive it) [MQTT-3.3.2-7].
    var inboundTopicAliases: [UInt16: String] = [:]
    /// The client's Topic Alias Maximum: how many aliases the broker may set towards it (0: none).
    var outboundTopicAliasMaximum: UInt16 = 0
    /// Aliases the broker has set towards the client on this connection, by topic.
    var outboundTopicAliases: [ExactString: UInt16] = [:]

    init(id: ConnectionID, state: State, requiresAuthentication: Bool, lastActivity: NIODeadline) {
        self.id = id
        self.state = state
        self.requiresAuthentication = requiresAuthentication
        self.lastActivity = lastActivity
    }

    var clientID: ClientIdentifier? {
        if case .connected(let clientID) = state { return clientID }
        return nil
    }
}
