import MQTTCore
import NIOCore
import Testing
import TernBroker

/// A commit leaves out the writes of rows that a later change in it deletes; the state it leaves is the same.
@Suite struct StoreChangeCompactionTests {
    private func delivery(_ text: String) -> StoredDelivery {
        StoredDelivery(message: StoredMessage(topic: "t", payload: ByteBuffer(string: text), qos: .atLeastOnce,
                                              retain: false),
                       qos: .atLeastOnce, retain: false)
    }

    private func saved(_ client: String, _ id: UInt16, order: UInt64 = 1) -> StoreChange {
        .inflightSaved(clientID: client, StoredInflight(packetIdentifier: id, order: order, released: false,
                                                        delivery: delivery("m\(id)")))
    }

    private func queued(_ client: String, _ sequence: UInt64) -> StoreChange {
        .messageQueued(clientID: client, StoredQueuedMessage(sequence: sequence, delivery: delivery("q\(sequence)")))
    }

    @Test func aMessageSavedAndAcknowledgedInOneCommitIsNotWritten() {
        let changes = [saved("a", 1), saved("a", 2), .inflightDeleted(clientID: "a", packetIdentifier: 1)]
        #expect(StoreChange.droppingWritesDeletedLater(changes)
                == [saved("a", 2), .inflightDeleted(clientID: "a", packetIdentifier: 1)])
    }

    @Test func everyWriteOfTheRowGoesTheReleaseToo() {
        let changes = [saved("a", 1), .inflightReleased(clientID: "a", packetIdentifier: 1),
                       .inflightDeleted(clientID: "a", packetIdentifier: 1)]
        #expect(StoreChange.droppingWritesDeletedLater(changes)
                == [.inflightDeleted(clientID: "a", packetIdentifier: 1)])
    }

    @Test func onlyTheSameClientsRowAndOnlyWritesBeforeTheDeletion() {
        let changes = [saved("a", 1), saved("b", 1), .inflightDeleted(clientID: "a", packetIdentifier: 1),
                       saved("a", 1, order: 2)]
        #expect(StoreChange.droppingWritesDeletedLater(changes)
                == [saved("b", 1), .inflightDeleted(clientID: "a", packetIdentifier: 1), saved("a", 1, order: 2)])
    }

    @Test func queuedMessagesAndInboundIdentifiersToo() {
        let changes: [StoreChange] = [
            queued("a", 7), queued("a", 8), .inboundQoS2Added(clientID: "a", packetIdentifier: 3),
            .messageDequeued(clientID: "a", sequence: 7), .inboundQoS2Removed(clientID: "a", packetIdentifier: 3),
        ]
        #expect(StoreChange.droppingWritesDeletedLater(changes) == [
            queued("a", 8), .messageDequeued(clientID: "a", sequence: 7),
            .inboundQoS2Removed(clientID: "a", packetIdentifier: 3),
        ])
    }

    @Test func aListWithNothingToDropIsReturnedAsItIs() {
        let changes = [saved("a", 1), .inflightDeleted(clientID: "a", packetIdentifier: 2), queued("a", 1)]
        #expect(StoreChange.droppingWritesDeletedLater(changes) == changes)
    }

    @Test func theStoreEndsTheSameWithAndWithoutTheDroppedWrites() throws {
        let earlier = [saved("a", 5), queued("a", 1)]
        let changes = [saved("a", 1), .inflightDeleted(clientID: "a", packetIdentifier: 5), saved("a", 2),
                       .inflightDeleted(clientID: "a", packetIdentifier: 1), queued("a", 2),
                       .messageDequeued(clientID: "a", sequence: 1), .messageDequeued(clientID: "a", sequence: 2),
                       .sessionSaved(StoredSession(clientID: "a", protocolVersion: .v5, expiryInterval: 60))]
        let whole = InMemoryStore(), compacted = InMemoryStore()
        for store in [whole, compacted] { try store.commit(earlier) }
        try whole.commit(changes)
        try compacted.commit(StoreChange.droppingWritesDeletedLater(changes))
        #expect(try whole.loadSessions() == compacted.loadSessions())
        #expect(StoreChange.droppingWritesDeletedLater(changes).count == changes.count - 2)  // saved a1, queued a2
    }
}
