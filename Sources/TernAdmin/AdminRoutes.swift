import Foundation
import Hummingbird
import MQTTCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TernBroker
import TernServer

/// Applies the configuration file again (what SIGHUP does); returns nil on success, else why it failed.
public typealias ConfigurationReloader = @Sendable () async -> String?

/// The HTTP routes: probes, metrics, the JSON admin API under `/api/v1`, the OpenAPI document and the dashboard.
struct AdminRoutes: Sendable {
    let mqtt: MQTTServer
    let policy: NIOLockedValueBox<AdminAccessPolicy>
    let metrics: MetricsExporter
    let reload: ConfigurationReloader
    let readiness: @Sendable () async -> [String: Bool]
    let webSocketListeners: [WebSocketListenerDocument]
    let assets: DashboardAssets
    let threadPool: NIOThreadPool
    let httpAuthenticationFailures = NIOLockedValueBox(0)
    let started = ContinuousClock.now

    /// Retained messages listed at most, unless `limit` says fewer.
    static let retainedLimit = 1000

    func register(on router: Router<BasicRequestContext>) {
        router.get("health") { request, _ -> HealthDocument in
            if policy.withLockedValue(\.protectsMetrics) { try await authorize(request, .readOnly) }
            return HealthDocument(status: "ok", checks: nil)
        }
        router.get("ready") { _, _ -> Response in
            let checks = await readiness()
            let ready = checks.values.allSatisfy { $0 }
            return try jsonResponse(HealthDocument(status: ready ? "ready" : "not ready", checks: checks),
                                    status: ready ? .ok : .serviceUnavailable)
        }
        router.get("metrics") { request, _ -> Response in
            if policy.withLockedValue(\.protectsMetrics) { try await authorize(request, .readOnly) }
            let text = await metrics.scrape(try await mqtt.metricsSnapshot(),
                                            httpAuthenticationFailures: httpAuthenticationFailures.withLockedValue { $0 })
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("openapi.json") { _, _ in assets.response("openapi.json") }
        router.get("/") { request, _ -> Response in
            try await authorize(request, .readOnly)
            return assets.response("index.html")
        }
        for name in DashboardAssets.dashboardFiles where name != "index.html" {
            router.get(RouterPath(name)) { request, _ -> Response in
                try await authorize(request, .readOnly)
                return assets.response(name)
            }
        }

        let api = router.group("api/v1")
        api.get("broker") { request, _ -> BrokerDocument in
            let role = try await authorize(request, .readOnly)
            let snapshot = try await mqtt.metricsSnapshot()
            let statistics = snapshot.statistics
            return BrokerDocument(
                version: TernVersion.number, uptimeSeconds: Int((ContinuousClock.now - started).components.seconds),
                role: role, connectedClients: snapshot.gauges.connectedClients, sessions: snapshot.gauges.sessions,
                subscriptions: snapshot.gauges.subscriptions, retainedMessages: snapshot.gauges.retainedMessages,
                inflightMessages: snapshot.gauges.inflightMessages, queuedMessages: snapshot.gauges.queuedMessages,
                messagesReceived: statistics.messagesReceived, messagesSent: statistics.messagesSent,
                messagesDropped: statistics.messagesDropped, bytesReceived: snapshot.wire.bytesReceived,
                bytesSent: snapshot.wire.bytesSent, webSocketListeners: webSocketListeners)
        }
        api.get("sessions") { request, _ -> SessionListDocument in
            try await authorize(request, .readOnly)
            let query = request.uri.queryParameters
            let search = query.get("search").map { String($0) } ?? ""
            let connectedOnly = query.get("connected").map { $0 == "true" }
            let sessions = try await mqtt.sessionSummaries().filter { summary in
                (search.isEmpty || summary.clientID.localizedCaseInsensitiveContains(search)
                    || (summary.username?.localizedCaseInsensitiveContains(search) ?? false))
                    && (connectedOnly == nil || summary.connected == connectedOnly)
            }
            return SessionListDocument(sessions: sessions.map(SessionDocument.init))
        }
        api.get("sessions/:clientID") { request, context -> SessionDocument in
            try await authorize(request, .readOnly)
            let clientID = try Self.clientID(context)
            return SessionDocument(try Self.found(try await mqtt.sessionSummary(clientID: clientID),
                                                  or: "no session for client '\(clientID)'"))
        }
        api.delete("sessions/:clientID") { request, context -> HTTPResponse.Status in
            try await authorize(request, .admin)
            let clientID = try Self.clientID(context)
            return try Self.noContent(try await mqtt.deleteSession(clientID: clientID),
                                      or: "no session for client '\(clientID)'")
        }
        api.post("sessions/:clientID/disconnect") { request, context -> HTTPResponse.Status in
            try await authorize(request, .admin)
            let clientID = try Self.clientID(context)
            return try Self.noContent(try await mqtt.disconnect(clientID: clientID),
                                      or: "client '\(clientID)' is not connected")
        }
        api.get("retained") { request, _ -> RetainedListDocument in
            try await authorize(request, .readOnly)
            let query = request.uri.queryParameters
            let filter = query.get("filter").map { String($0) } ?? "#"
            do {
                try TopicFilter.validate(filter)
            } catch {
                throw HTTPError(.badRequest, message: "'\(filter)' is not a valid topic filter")
            }
            let limit = max(1, min(Self.retainedLimit, query.get("limit").flatMap { Int($0) } ?? Self.retainedLimit))
            let found = try await mqtt.retainedSummaries(matching: filter, limit: limit + 1)
            return RetainedListDocument(messages: found.prefix(limit).map(RetainedDocument.init),
                                        truncated: found.count > limit)
        }
        api.get("retained/message") { request, _ -> RetainedDocument in
            try await authorize(request, .readOnly)
            let topic = try Self.topic(request)
            return RetainedDocument(try Self.found(try await mqtt.retainedSummary(topic: topic),
                                                   or: "no retained message on '\(topic)'"))
        }
        api.delete("retained/message") { request, _ -> HTTPResponse.Status in
            try await authorize(request, .admin)
            let topic = try Self.topic(request)
            return try Self.noContent(try await mqtt.deleteRetained(topic: topic),
                                      or: "no retained message on '\(topic)'")
        }
        api.post("publish") { request, context -> PublishDocument in
            try await authorize(request, .admin)
            let body: PublishRequest
            do {
                body = try await request.decode(as: PublishRequest.self, context: context)
            } catch {
                throw HTTPError(.badRequest, message: "expected {\"topic\": ..., \"payload\": ...}: \(error)")
            }
            return PublishDocument(deliveredTo: try await mqtt.publish(try Self.message(body)))
        }
        api.post("reload") { request, _ -> ReloadDocument in
            try await authorize(request, .admin)
            if let failure = await reload() {
                throw HTTPError(.unprocessableContent, message: failure)
            }
            return ReloadDocument(reloaded: true)
        }
    }

    /// Checks the request's credentials: 401 without valid ones, 403 when their role is below `minimum`.
    @discardableResult
    func authorize(_ request: Request, _ minimum: AdminRole) async throws -> AdminRole {
        let policy = self.policy.withLockedValue { $0 }
        guard let role = await policy.role(authorization: request.headers[.authorization], threadPool: threadPool)
        else {
            if request.headers[.authorization] != nil { httpAuthenticationFailures.withLockedValue { $0 += 1 } }
            throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Basic realm=\"tern\", charset=\"UTF-8\""],
                            message: "credentials required")
        }
        guard role >= minimum else {
            throw HTTPError(.forbidden, message: "the \(role.rawValue) role may not do this")
        }
        return role
    }

    static func clientID(_ context: BasicRequestContext) throws -> String {
        let raw = try context.parameters.require("clientID")
        return raw.removingPercentEncoding ?? raw
    }

    static func topic(_ request: Request) throws -> String {
        guard let topic = request.uri.queryParameters.get("topic").map({ String($0) }) else {
            throw HTTPError(.badRequest, message: "the topic query parameter is required")
        }
        return try validTopicName(topic)
    }

    static func validTopicName(_ topic: String) throws -> String {
        do {
            try TopicName.validate(topic)
        } catch {
            throw HTTPError(.badRequest, message: "'\(topic)' is not a valid topic name")
        }
        return topic
    }

    /// The value, or 404 with `message`.
    static func found<Value>(_ value: Value?, or message: String) throws -> Value {
        guard let value else { throw HTTPError(.notFound, message: message) }
        return value
    }

    /// 204 when the action was done, else 404 with `message`.
    static func noContent(_ done: Bool, or message: String) throws -> HTTPResponse.Status {
        guard done else { throw HTTPError(.notFound, message: message) }
        return .noContent
    }

    /// The message a publish request asks for; $SYS topics are the broker's own and refused here too.
    static func message(_ body: PublishRequest) throws -> ApplicationMessage {
        _ = try validTopicName(body.topic)
        if ReservedTopic.forbidsPublishing(body.topic) {
            throw HTTPError(.forbidden, message: "'\(body.topic)' is reserved for the broker")
        }
        guard let qos = QoS(rawValue: UInt8(clamping: body.qos ?? 0)), (0...2).contains(body.qos ?? 0) else {
            throw HTTPError(.badRequest, message: "qos must be 0, 1 or 2")
        }
        var payload = ByteBuffer()
        if let base64 = body.payloadBase64 {
            guard let bytes = Data(base64Encoded: base64) else {
                throw HTTPError(.badRequest, message: "payloadBase64 is not base64")
            }
            payload.writeBytes(bytes)
        } else {
            payload.writeString(body.payload ?? "")
        }
        return ApplicationMessage(topic: body.topic, payload: payload, qos: qos, retain: body.retain ?? false)
    }

    func jsonResponse<Document: Encodable>(_ document: Document, status: HTTPResponse.Status) throws -> Response {
        let data = try JSONEncoder().encode(document)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
