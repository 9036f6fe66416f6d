import DequeModule
import MQTTCore

/// A session's outbound QoS 1 and 2 messages awaiting acknowledgement, in the order they were sent, by packet
/// identifier.
///
/// Clients acknowledge in that order [MQTT-4.6.0-2, MQTT-4.6.0-3], so an acknowledgement names the oldest message,
/// or one just behind a few QoS 2 messages awaiting PUBCOMP: the window is a deque searched from its front (an
/// acknowledgement out of order is found all the same, further in). A dictionary by identifier put every message
/// at a hashed place: in fan-out at QoS 1 (100 subscribers, thousands of messages in flight each) the PUBACK's
/// load of its message missed the cache and, with the hashing of the identifier, took a quarter of the broker's
/// time. Which identifiers are in use is one bit each
/// once the window holds more than `scanLimit` messages, so that a new identifier [MQTT-2.2.1-3] and an unknown one
/// are told in O(1); below that the deque is scanned.
struct InflightWindow: Sendable {
    /// A message in flight, in 16 bytes: the delivery's fields that nearly every delivery leaves empty (its
    /// subscription identifiers and shared subscription) are kept apart, in `rareFields` by identifier. In fan-out
    /// at QoS 1 with no in-flight limit, each of 100 subscribers has thousands of messages in flight, and writing
    /// each delivery whole (96 bytes) into its window missed the cache: 17% of the broker's time, in the copy of the
    /// element into the deque. (An optional reference to the rare fields in the element cost a retain and a release
    /// per delivery, nil or not.)
    struct Element: Sendable {
        let packetIdentifier: UInt16
        var stage: InflightMessage.Stage
        let qos: QoS
        let retain: Bool
        /// Whether `rareFields` holds this message's subscription identifiers or shared subscription.
        let hasRareFields: Bool
        let applicationMessage: ApplicationMessage
    }

    /// Subscription identifiers and a shared subscription, for the few messages in flight that have them.
    private struct RareFields: Sendable {
        let subscriptionIdentifiers: [UInt32]
        let sharedSubscription: SharedSubscription?
    }

    /// In the order sent (for a restored session, the order the store kept).
    private(set) var elements: Deque<Element> = []
    /// The rare fields of the messages whose element says it has them (empty, and unallocated, for most sessions).
    private var rareFields: [UInt16: RareFields] = [:]
    /// Bit `id` is set while identifier `id` is in flight: 8 KB, allocated once the window first outgrows
    /// `scanLimit` (never for the idle and QoS 0 sessions that make up most of a broker's memory).
    private var inUse: [UInt64]?
    /// Where the message after the last one released is: QoS 2 messages stay in the window after their PUBREC,
    /// until PUBCOMP, so the next PUBREC names the message at this index, not at the front. Searched from the front,
    /// each PUBREC passed every message released before it: with thousands in flight (fan-in QoS 2, no in-flight
    /// limit) that scan was 28% of the broker's time.
    private var afterLastReleased = 0

    static var scanLimit: Int { 32 }

    var count: Int { elements.count }
    var isEmpty: Bool { elements.isEmpty }

    /// Payload bytes of the messages in flight, read off the elements without building their deliveries.
    var payloadBytes: Int { elements.reduce(0) { $0 + $1.applicationMessage.payloadSize } }

    /// The messages, in the order sent.
    var messages: some Collection<InflightMessage> { elements.lazy.map { message(of: $0) } }

    /// The message of one of `elements` as it was appended, at its current stage; but for `queuedAt` and
    /// `storeSequence`, which are read as the message leaves the queue.
    func message(of element: Element) -> InflightMessage {
        var delivery = OutboundDelivery(message: element.applicationMessage, qos: element.qos, retain: element.retain,
                                        subscriptionIdentifiers: [])
        if element.hasRareFields, let rare = rareFields[element.packetIdentifier] {
            delivery.subscriptionIdentifiers = rare.subscriptionIdentifiers
            delivery.sharedSubscription = rare.sharedSubscription
        }
        return InflightMessage(delivery: delivery, stage: element.stage)
    }

    func contains(_ packetIdentifier: UInt16) -> Bool {
        if let inUse { return inUse[Int(packetIdentifier >> 6)] & (1 << (packetIdentifier & 63)) != 0 }
        return elements.contains { $0.packetIdentifier == packetIdentifier }
    }

    private func index(of packetIdentifier: UInt16) -> Int? {
        guard inUse == nil || contains(packetIdentifier) else { return nil }
        if afterLastReleased > 0, afterLastReleased < elements.count,
            elements[afterLastReleased].packetIdentifier == packetIdentifier
        {
            return afterLastReleased
        }
        return elements.firstIndex { $0.packetIdentifier == packetIdentifier }
    }

    subscript(packetIdentifier: UInt16) -> InflightMessage? {
        index(of: packetIdentifier).map { message(of: elements[$0]) }
    }

    /// The QoS and stage of the message with this identifier, read without building its delivery.
    func qosAndStage(of packetIdentifier: UInt16) -> (qos: QoS, stage: InflightMessage.Stage)? {
        index(of: packetIdentifier).map { (elements[$0].qos, elements[$0].stage) }
    }

    /// Adds a message sent with an identifier that is not in flight.
    mutating func append(_ message: InflightMessage, packetIdentifier: UInt16) {
        append(message.delivery, stage: message.stage, packetIdentifier: packetIdentifier)
    }

    /// Adds a message sent with an identifier that is not in flight, from its delivery: building an
    /// `InflightMessage` first copied the delivery (a retain and a release of each of its references).
    mutating func append(_ delivery: borrowing OutboundDelivery, stage: InflightMessage.Stage = .published,
                         packetIdentifier: UInt16)
    {
        assert(!contains(packetIdentifier), "packet identifier \(packetIdentifier) is already in flight")
        assert(rareFields[packetIdentifier] == nil, "rare fields of identifier \(packetIdentifier) left behind")
        let hasRareFields = !delivery.subscriptionIdentifiers.isEmpty || delivery.sharedSubscription != nil
        elements.append(Element(packetIdentifier: packetIdentifier, stage: stage, qos: delivery.qos,
                                retain: delivery.retain, hasRareFields: hasRareFields,
                                applicationMessage: delivery.message))
        if hasRareFields {
            rareFields[packetIdentifier] = RareFields(subscriptionIdentifiers: delivery.subscriptionIdentifiers,
                                                      sharedSubscription: delivery.sharedSubscription)
        }
        if inUse != nil {
            mark(packetIdentifier, true)
        } else if elements.count > Self.scanLimit {
            inUse = Array(repeating: 0, count: 1024)
            for element in elements { mark(element.packetIdentifier, true) }
        }
    }

    /// Sets the stage of the message with this identifier; false if there is none.
    @discardableResult
    mutating func setStage(_ stage: InflightMessage.Stage, of packetIdentifier: UInt16) -> Bool {
        guard let index = index(of: packetIdentifier) else { return false }
        elements[index].stage = stage
        if stage == .released { afterLastReleased = index + 1 }
        return true
    }

    /// Removes the message with this identifier; false if there is none. (Returning the message built it for
    /// callers that drop it.)
    @discardableResult
    mutating func remove(_ packetIdentifier: UInt16) -> Bool {
        guard let index = index(of: packetIdentifier) else { return false }
        if inUse != nil { mark(packetIdentifier, false) }
        if index < afterLastReleased { afterLastReleased -= 1 }
        if elements[index].hasRareFields { rareFields[packetIdentifier] = nil }
        if index == 0 { elements.removeFirst() } else { elements.remove(at: index) }
        return true
    }

    private mutating func mark(_ packetIdentifier: UInt16, _ used: Bool) {
        let word = Int(packetIdentifier >> 6), bit: UInt64 = 1 << (packetIdentifier & 63)
        if used { inUse![word] |= bit } else { inUse![word] &= ~bit }
    }
}
