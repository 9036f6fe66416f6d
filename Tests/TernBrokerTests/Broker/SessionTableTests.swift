import MQTTCore
import PropertyBased
import Testing

@testable import TernBroker

@Suite struct SessionTableTests {
    private func session(_ clientID: ClientIdentifier, expiry: UInt32 = 0) -> ClientSession {
        ClientSession(clientID: clientID, protocolVersion: .v5, expiryInterval: expiry)
    }

    @Test func aSlotReachesItsSessionUntilTheSessionIsRemoved() {
        var table = SessionTable()
        table["a"] = session("a")
        let slot = table.slot(of: "a")
        #expect(table.withSession(at: slot, "a") { $0.clientID } == "a")
        table.removeValue(forKey: "a")
        #expect(table.withSession(at: slot, "a") { $0.clientID } == nil)

        // The freed slot goes to the next session; the old slot does not name it, and a lookup with the old slot
        // for another client falls back to that client's own session.
        table["b"] = session("b", expiry: 7)
        #expect(table.slot(of: "b").index == slot.index)
        #expect(table.slot(of: "b") != slot)
        #expect(table.withSession(at: slot, "b") { $0.expiryInterval } == 7)
        #expect(table.withSession(at: slot, "a") { $0.clientID } == nil)
    }

    @Test func changesThroughTheSubscriptAreInPlaceAndAMissingSessionStaysMissing() {
        var table = SessionTable()
        table["a"]?.expiryInterval = 5
        #expect(table.isEmpty)
        #expect(table.slot(of: "a") == .none)
        table["a"] = session("a")
        table["a"]?.expiryInterval = 5
        #expect(table["a"]?.expiryInterval == 5)
        #expect(table.count == 1)
        table["a"] = nil
        #expect(table.isEmpty)
        #expect(table["a"] == nil)
    }

    @Test func aSessionTakenOutKeepsItsSlotAndIsCountedAgainWhenPutBack() {
        var table = SessionTable()
        table["a"] = session("a")
        let slot = table.slot(of: "a")
        var taken = table.takeOut("a")!
        #expect(table["a"] == nil)
        #expect(table.count == 0)
        #expect(table.slot(of: "a") == slot)
        taken.expiryInterval = 9
        table["a"] = taken
        #expect(table.count == 1)
        #expect(table.withSession(at: slot, "a") { $0.expiryInterval } == 9)
    }

    @Test func aReservedSlotIsTheOneTheSessionGets() {
        var table = SessionTable()
        let slot = table.reserveSlot(for: "a")
        #expect(table.isEmpty)
        table["a"] = session("a", expiry: 3)
        #expect(table.slot(of: "a") == slot)
        #expect(table.withSession(at: slot, "a") { $0.expiryInterval } == 3)
    }

    /// Random insertions, removals, in-place changes and take-out/put-back cycles over a few clients: the table
    /// holds what a dictionary holds, and every slot ever handed out either reaches its own client's session or
    /// none (a stale slot falls back to the lookup by identifier, never to another client's session).
    @Test func randomOperationsAgreeWithADictionary() async {
        let op = zip(Gen.int(in: 0...4), Gen.int(in: 0..<6))
        await propertyCheck(count: 200, input: op.array(of: 1...120)) { ops in
            var table = SessionTable()
            var model: [ClientIdentifier: UInt32] = [:]  // each session's expiry interval, its marker
            var slotsSeen: [(ClientIdentifier, SessionSlot)] = []
            for (step, (kind, client)) in ops.enumerated() {
                let id = ClientIdentifier("c\(client)")
                let marker = UInt32(step)
                switch kind {
                case 0:
                    table[id] = session(id, expiry: marker)
                    model[id] = marker
                case 1:
                    #expect(table.removeValue(forKey: id)?.expiryInterval == model.removeValue(forKey: id))
                case 2:
                    table[id]?.expiryInterval = marker
                    if model[id] != nil { model[id] = marker }
                case 3:
                    if var taken = table.takeOut(id) {
                        taken.expiryInterval = marker
                        table[id] = taken
                        model[id] = marker
                    } else {
                        #expect(model[id] == nil)
                    }
                default:
                    _ = table.withSession(at: table.slot(of: id), id) { $0.expiryInterval = marker }
                    if model[id] != nil { model[id] = marker }
                }
                if model[id] != nil { slotsSeen.append((id, table.slot(of: id))) }
                #expect(table.count == model.count)
            }
            #expect(Dictionary(uniqueKeysWithValues: table.map { ($0.key, $0.value.expiryInterval) }) == model)
            // Markers are unique per step: a stale slot that reached another client's session would show its marker.
            for (id, slot) in slotsSeen {
                #expect(table.withSession(at: slot, id) { $0.expiryInterval } == model[id])
            }
        }
    }
}
