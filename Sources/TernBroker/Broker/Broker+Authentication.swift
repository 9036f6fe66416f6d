import MQTTCore
import NIOCore

/// MQTT 5.0 enhanced authentication (section 4.12) at the protocol level: AUTH packets in and out, the states of
/// an exchange during CONNECT and during re-authentication, and their time limits. What the data means (SCRAM,
/// ...) is the listener authenticator's business, reached through `BrokerOutput.authenticate`.
extension Broker {
    /// A CONNECT on a listener that checks credentials: ask the authenticator, starting an exchange when the
    /// client named an authentication method.
    func startAuthentication<Output: BrokerOutput>(_ connect: ConnectPacket, connection id: ConnectionID,
                                                   deadline: NIODeadline, output: inout Output)
    {
        let method = connect.protocolVersion == .v5 ? connect.properties.authenticationMethod : nil
        connections[id]?.protocolVersion = connect.protocolVersion
        connections[id]?.authenticationMethod = method
        connections[id]?.state = .authenticating(connect, pending: [], deadline: deadline)
        var request = AuthenticationRequest(
            connection: id, protocolVersion: connect.protocolVersion, clientIdentifier: connect.clientIdentifier,
            username: connect.username, password: connect.password)
        request.authenticationMethod = method
        request.authenticationData = method == nil ? nil : connect.properties.authenticationData
        output.authenticate(request)
    }

    /// A packet while a CONNECT's enhanced authentication runs: only AUTH 0x18 (when a challenge was sent) and
    /// DISCONNECT may come before CONNACK [MQTT-3.1.2-30, MQTT-4.12.0-3]; anything else refuses the connection.
    func receiveDuringExchange<Output: BrokerOutput>(_ packet: Packet, connect: ConnectPacket,
                                                     connection id: ConnectionID, output: inout Output)
    {
        guard let connection = connections[id], let method = connection.authenticationMethod else { return }
        switch packet {
        case .auth(let auth) where connection.awaitsClientAuthentication && auth.reasonCode == .continueAuthentication:
            guard auth.properties.authenticationMethod == method else {  // [MQTT-4.12.0-5]
                return refuseDuringExchange(id, reasonCode: .protocolError, output: &output)
            }
            connections[id]?.awaitsClientAuthentication = false
            output.authenticate(continuation(of: auth, connection: id, connect: connect, method: method))
        case .disconnect:
            closeUnconnected(id, output: &output)
        default:
            refuseDuringExchange(id, reasonCode: .protocolError, output: &output)
        }
    }

    private func refuseDuringExchange<Output: BrokerOutput>(_ id: ConnectionID, reasonCode: ReasonCode,
                                                            output: inout Output)
    {
        output.send(.connack(ConnAckPacket(reasonCode: reasonCode)), to: id)
        statistics.recordRefusal(reasonCode)
        closeUnconnected(id, output: &output)
    }

    private func continuation(of auth: AuthPacket, connection id: ConnectionID, connect: ConnectPacket,
                              method: String) -> AuthenticationRequest
    {
        var request = AuthenticationRequest(
            connection: id, protocolVersion: .v5, clientIdentifier: connect.clientIdentifier,
            username: connections[id]?.username ?? connect.username, password: nil)
        request.authenticationMethod = method
        request.authenticationData = auth.properties.authenticationData
        request.stage = .continuation
        return request
    }

    /// The authenticator needs more from the client: AUTH 0x18 with its data [MQTT-4.12.0-2].
    func challenge<Output: BrokerOutput>(_ id: ConnectionID, data: ByteBuffer?, output: inout Output) {
        guard let method = connections[id]?.authenticationMethod else {
            // A plain CONNECT cannot be challenged [MQTT-4.12.0-6].
            if let connection = connections[id], connection.clientID == nil {
                refuseDuringExchange(id, reasonCode: .notAuthorized, output: &output)
            }
            return
        }
        connections[id]?.awaitsClientAuthentication = true
        var properties = Properties()
        properties.authenticationMethod = method
        properties.authenticationData = data
        output.send(.auth(AuthPacket(reasonCode: .continueAuthentication, properties: properties)), to: id)
    }

    /// AUTH from a connected client: the start of a re-authentication (0x19) or its answer to a challenge (0x18).
    /// A client that did not use enhanced authentication in CONNECT must not send AUTH [MQTT-4.12.0-7].
    func handleAuth<Output: BrokerOutput>(_ auth: AuthPacket, connection id: ConnectionID,
                                          clientID: ClientIdentifier, now: NIODeadline, output: inout Output)
    {
        guard let connection = connections[id], let method = connection.authenticationMethod,
            auth.properties.authenticationMethod == method  // [MQTT-4.12.1-1]
        else {
            return protocolError(.protocolError, connection: id, clientID: clientID, now: now, output: &output)
        }
        var request = AuthenticationRequest(
            connection: id, protocolVersion: .v5, clientIdentifier: clientID.string, username: connection.username,
            password: nil)
        request.authenticationMethod = method
        request.authenticationData = auth.properties.authenticationData
        switch auth.reasonCode {
        case .reAuthenticate where connection.reauthenticationDeadline == nil:
            connections[id]?.reauthenticationDeadline = now + .seconds(settings.connectTimeout)
            request.stage = .reauthentication
        case .continueAuthentication where connection.awaitsClientAuthentication:
            connections[id]?.awaitsClientAuthentication = false
            request.stage = .continuation
        default:
            return protocolError(.protocolError, connection: id, clientID: clientID, now: now, output: &output)
        }
        output.authenticate(request)
    }

    /// The authenticator's answer during a re-authentication: another challenge, AUTH 0x00 with its last data,
    /// or a DISCONNECT with the reason and the end of the connection [MQTT-4.12.1-2]. The user must stay the
    /// one the connection authenticated as; its access rules are taken anew.
    func reauthenticationCompleted<Output: BrokerOutput>(_ id: ConnectionID, clientID: ClientIdentifier,
                                                         result: AuthenticationResult, now: NIODeadline,
                                                         output: inout Output)
    {
        guard let connection = connections[id], connection.reauthenticationDeadline != nil,
            let method = connection.authenticationMethod
        else { return }
        switch result {
        case .continueAuthentication(let data):
            challenge(id, data: data, output: &output)
        case .accepted(let username, let accessControl, let data) where username == connection.username:
            connections[id]?.reauthenticationDeadline = nil
            // The access rules in force now (the ACL file may have been reloaded since CONNECT).
            connections[id]?.accessControl = accessControl
            let rules = accessControl?.rules(clientID: clientID.string, username: username) ?? .unrestricted
            sessions[clientID]?.access = rules
            connection.publishesUnrestricted = !rules.isRestricted
            var properties = Properties()
            properties.authenticationMethod = method
            properties.authenticationData = data
            output.send(.auth(AuthPacket(reasonCode: .success, properties: properties)), to: id)
        case .accepted:
            protocolError(.notAuthorized, connection: id, clientID: clientID, now: now, output: &output)
        case .refused(let reasonCode):
            protocolError(reasonCode, connection: id, clientID: clientID, now: now, output: &output)
        }
    }
}
