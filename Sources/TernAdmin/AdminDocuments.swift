import Foundation
import Hummingbird
import TernBroker
import TernServer

// The JSON documents of the admin API; Resources/openapi.json describes them.

struct BrokerDocument: ResponseCodable {
    var version: String
    var uptimeSeconds: Int
    var role: AdminRole
    var connectedClients: Int
    var sessions: Int
    var subscriptions: Int
    var retainedMessages: Int
    var inflightMessages: Int
    var queuedMessages: Int
    var messagesReceived: Int
    var messagesSent: Int
    var messagesDropped: Int
    var bytesReceived: Int
    var bytesSent: Int
    /// The broker's WebSocket listeners, for the dashboard's subscribe panel.
    var webSocketListeners: [WebSocketListenerDocument]
}

struct WebSocketListenerDocument: Codable, Sendable {
    var port: Int
    var tls: Bool
}

struct SubscriptionDocument: Codable, Sendable {
    var topicFilter: String
    var qos: Int
    var subscriptionIdentifier: UInt32?
}

struct SessionDocument: ResponseCodable {
    var clientID: String
    var connected: Bool
    var protocolVersion: String
    var username: String?
    var remoteAddress: String?
    var expiryInterval: UInt32?
    var expiresIn: Int64?
    var subscriptions: [SubscriptionDocument]
    var inflight: Int
    var queued: Int
    var dropped: Int

    init(_ summary: SessionSummary) {
        clientID = summary.clientID
        connected = summary.connected
        protocolVersion = summary.protocolVersion
        username = summary.username
        remoteAddress = summary.remoteAddress
        expiryInterval = summary.expiryInterval
        expiresIn = summary.expiresIn
        subscriptions = summary.subscriptions.map {
            SubscriptionDocument(topicFilter: $0.topicFilter, qos: $0.qos,
                                 subscriptionIdentifier: $0.subscriptionIdentifier)
        }
        inflight = summary.inflight
        queued = summary.queued
        dropped = summary.dropped
    }
}

struct SessionListDocument: ResponseCodable {
    var sessions: [SessionDocument]
}

struct RetainedDocument: ResponseCodable {
    var topic: String
    var qos: Int
    /// The payload as text when it is valid UTF-8, else nil (see `payloadBase64`).
    var payload: String?
    var payloadBase64: String

    init(_ summary: RetainedSummary) {
        topic = summary.topic
        qos = summary.qos
        payload = String(validating: summary.payload, as: UTF8.self)
        payloadBase64 = Data(summary.payload).base64EncodedString()
    }
}

struct RetainedListDocument: ResponseCodable {
    var messages: [RetainedDocument]
    /// Whether more messages matched than `limit`.
    var truncated: Bool
}

struct PublishRequest: Decodable {
    var topic: String
    var payload: String?
    var payloadBase64: String?
    var qos: Int?
    var retain: Bool?
}

struct PublishDocument: ResponseCodable {
    var deliveredTo: Int
}

struct ReloadDocument: ResponseCodable {
    var reloaded: Bool
}

struct HealthDocument: ResponseCodable {
    var status: String
    var checks: [String: Bool]?
}
