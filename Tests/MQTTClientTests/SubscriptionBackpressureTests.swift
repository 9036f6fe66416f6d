import Foundation
import MQTTCore
import NIOCore
import Testing

@testable import MQTTClient

/// A slow consumer: the subscription stream stops growing at its limit, the client stops reading, the broker
/// keeps the rest queued, and once the consumer reads everything arrives, in order, once.
@Suite("Subscription streams are bounded", .serialized)
struct SubscriptionBackpressureTests {
    @Test("a full stream pauses reading until the consumer catches up, losing nothing")
    func slowConsumer() async throws {
        let broker = try await TestBroker.start(.tern)
        defer { broker.stopNow() }
        var configuration = broker.configuration(.v5, clientIdentifier: "slow")
        configuration.subscriptionBufferLimit = 10
        configuration.receiveMaximum = 5
        let subscriber = MQTTClient(configuration: configuration)
        let publisher = MQTTClient(configuration: broker.configuration(.v5, clientIdentifier: "fast"))
        try await subscriber.connect()
        try await publisher.connect()
        let subscription = try await subscriber.subscribe(to: "slow/#", qos: .atLeastOnce)
        let total = 300
        let payload = String(repeating: "x", count: 2000)
        for index in 0..<total {
            try await publisher.publish(to: "slow/\(index)", payload: "\(index) \(payload)", qos: .atLeastOnce)
        }
        // The broker holds what the client does not read.
        #expect(try await eventually(within: 20) {
            (try await broker.sessionSummary(clientID: "slow")).map { $0.queued + $0.inflight } ?? 0 > 100
        })
        // What one read can still carry (the socket's bytes when reading paused) is the only overshoot.
        #expect(subscription.buffer.pending < 10 + 64)

        var received: [Int] = []
        for try await message in subscription {
            let text = message.payloadString
            received.append(Int(text.prefix { $0 != " " }) ?? -1)
            if received.count == total { break }
        }
        #expect(received == Array(0..<total))
        #expect(await subscriber.isConnected)
        try await subscriber.disconnect()
        try await publisher.disconnect()
    }
}
