import Foundation
import MQTTClient
import MQTTCore
import NIOCore
import Synchronization
import Testing
import TernBroker

/// With a store, what acknowledges a durable change waits for its commit; QoS 1 deliveries do not.
@Suite("Deliveries and acknowledgements around the store's commits", .serialized)
struct DurableDeliveryTests {
    /// Subscribers: one with a persistent session (its deliveries are saved in flight), and one with a clean
    /// session at QoS 1 (nothing saved for it, so nothing to wait for) that gets each message in the same broker
    /// turn, as a barrier; and a publisher.
    private struct Clients {
        let persistent: MQTTClient, saved: MessageCollector
        let barrier: MQTTClient, seen: MessageCollector
        let publisher: MQTTClient

        init(_ broker: TestBroker, qos: QoS) async throws {
            var configuration = broker.configuration(.v5, clientIdentifier: "durable-\(qos.rawValue)")
            configuration.cleanStart = false
            configuration.sessionExpiryInterval = 300
            persistent = MQTTClient(configuration: configuration)
            try await persistent.connect()
            saved = MessageCollector(try await persistent.subscribe(to: "durable/#", qos: qos))
            barrier = MQTTClient(configuration: broker.configuration(.v5))
            try await barrier.connect()
            seen = MessageCollector(try await barrier.subscribe(to: "durable/#", qos: .atLeastOnce))
            publisher = MQTTClient(configuration: broker.configuration(.v5))
            try await publisher.connect()
        }

        func disconnect() async throws {
            try await publisher.disconnect()
            try await barrier.disconnect()
            try await persistent.disconnect()
        }
    }

    @Test("a QoS 1 delivery to a persistent session goes out before the commit that saves it; the PUBACK waits")
    func qos1DeliveryIsNotHeld() async throws {
        let store = GatedStore()
        let broker = try await TestBroker.tern(store: store)
        defer { broker.stopNow() }
        let clients = try await Clients(broker, qos: .atLeastOnce)
        store.close()
        let acknowledged = Mutex(false)
        let publishing = Task {
            let result = try await clients.publisher.publish(to: "durable/one", payload: "1", qos: .atLeastOnce)
            acknowledged.withLock { $0 = true }
            return result
        }
        #expect(try await clients.saved.wait(for: 1).first?.payloadString == "1")
        #expect(!acknowledged.withLock { $0 })  // the commit is held at the gate, and the PUBACK with it
        store.open()
        #expect(try await publishing.value.reasonCode == .success)
        try await clients.disconnect()
    }

    @Test("a QoS 2 delivery to a persistent session waits for the commit that saves it")
    func qos2DeliveryIsHeld() async throws {
        let store = GatedStore()
        let broker = try await TestBroker.tern(store: store)
        defer { broker.stopNow() }
        let clients = try await Clients(broker, qos: .exactlyOnce)
        store.close()
        let publishing = Task {
            try await clients.publisher.publish(to: "durable/two", payload: "2", qos: .exactlyOnce)
        }
        // The clean subscriber's copy left in the same turn: the persistent one's would have gone with it.
        #expect(try await clients.seen.wait(for: 1).first?.payloadString == "2")
        #expect(clients.saved.messages.isEmpty)
        store.open()
        #expect(try await clients.saved.wait(for: 1).first?.payloadString == "2")
        #expect(try await publishing.value.reasonCode == .success)
        try await clients.disconnect()
    }
}

/// An in-memory store whose commits wait while it is closed.
final class GatedStore: BrokerStore, @unchecked Sendable {
    // @unchecked: the gate is guarded by `condition`.
    private let base = InMemoryStore()
    private let condition = NSCondition()
    private var isClosed = false

    func close() { condition.withLock { isClosed = true } }

    func open() {
        condition.withLock {
            isClosed = false
            condition.broadcast()
        }
    }

    func commit(_ changes: [StoreChange]) throws {
        condition.withLock {
            while isClosed { condition.wait() }
        }
        try base.commit(changes)
    }

    func loadSessions(queueHeadLimit: Int) throws -> [StoredSessionState] {
        try base.loadSessions(queueHeadLimit: queueHeadLimit)
    }
    func sessionCount() throws -> Int { try base.sessionCount() }
    func loadRetained() throws -> [StoredMessage] { try base.loadRetained() }
    func retainedCount() throws -> Int { try base.retainedCount() }
    func queuedCount(clientID: String) throws -> Int { try base.queuedCount(clientID: clientID) }
    func queuedMessages(clientID: String, after sequence: UInt64, limit: Int) throws -> [StoredQueuedMessage] {
        try base.queuedMessages(clientID: clientID, after: sequence, limit: limit)
    }
}
