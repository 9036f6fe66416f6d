import DequeModule
import MQTTCore
import NIOCore

/// One message on its way to a subscriber, with the per-subscriber QoS, retain flag and identifiers.
struct OutboundDelivery: Sendable {
    var message: ApplicationMessage
    var qos: QoS
    var retain: Bool
    var subscriptionIdentifiers: [UInt32]
    /// The shared subscription this delivery came through alone, if any: when the session ends before the
    /// message is acknowledged, another member of the group gets it.
    var sharedSubscription: SharedSubscription? = nil
    /// When it went into the session's queue; nil when it was sent at once. For the delivery latency histogram.
    var queuedAt: NIODeadline? = nil
    /// The message's key in the store's queue while it is queued for a stored session.
    var storeSequence: UInt64 = 0

    /// Whether another member of its share group gets it if the session ends before it is acknowledged (section
    /// 4.8.2): a QoS 1 or 2 delivery through a shared subscription alone.
    var passesToShareGroup: Bool { sharedSubscription != nil && qos != .atMostOnce }
}

/// An outbound QoS 1 or 2 message that has a packet identifier and awaits the subscriber's acknowledgement.
struct InflightMessage: Sendable {
    enum Stage: Sendable {
        /// PUBLISH sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
        case published
        /// PUBREC received and PUBREL sent; waiting for PUBCOMP.
        case released
    }

    var delivery: OutboundDelivery
    var stage: Stage
}

/// The state MQTT keeps for a client identifier across connections (section 4.1): subscriptions, outbound
/// messages in flight and queued, inbound QoS 2 identifiers awaiting PUBREL, and the will of the live connection.
struct ClientSession: Sendable {
    let clientID: ClientIdentifier
    var connection: ConnectionID?
    var protocolVersion: ProtocolVersion
    /// Seconds the session outlives its connection; `UInt32.max` means it never expires.
    var expiryInterval: UInt32
    /// Set while no connection is attached and the session will expire.
    var expiresAt: NIODeadline?
    /// Topic filters as subscribed (shared ones with their `$share/group/` prefix), with their identifiers.
    var subscriptions: [String: UInt32?] = [:]
    /// What the client of the last connection may publish and receive; checked on every delivery, queued ones
    /// included.
    var access: ClientAccessRules = .unrestricted
    /// In flight, in the order sent; re-sent in this order on resumption [MQTT-4.4.0-1, MQTT-4.6.0-1].
    var inflight = InflightWindow()
    /// Waiting for room in the inflight window, or for the client to come back.
    var queue: Deque<OutboundDelivery> = []
    /// Inbound QoS 2 packet identifiers whose PUBREL has not arrived yet [MQTT-4.3.3-8..10].
    var inboundQoS2: Set<UInt16> = []
    var lastPacketIdentifier: UInt16 = 0
    /// The client's Receive Maximum: how many QoS 1 and 2 messages may be in flight to it [MQTT-3.3.4-9].
    var receiveMaximum: Int = 65_535
    /// The client's Maximum Packet Size.
    var maximumPacketSize: Int = MQTTPacketDecoder.largestPossiblePacketSize
    /// Whether the client of the current connection set a Topic Alias Maximum above 0 (the aliases themselves
    /// are the connection's): without one, a delivery needs no look at the connection.
    var acceptsTopicAliases = false
    /// The mount point of the current connection's listener, taken off the topics sent to it (kept here so that a
    /// delivery needs no look at the connection).
    var mountPoint = MountPoint.none
    var will: LastWill?
    var droppedMessages = 0
    /// Payload bytes of the queued messages, those in the store only included.
    var queuedBytes = 0
    /// Queued messages kept in the store only (see `Broker.enqueue`): they come after those in `queue`, and
    /// are read back a page at a time as the queue drains.
    var queuedInStoreOnly = 0
    /// The QoS 1 and 2 messages from shared subscriptions among those in the store only, in order: kept in memory
    /// too, so that a session that ends can give them to another member of their group (section 4.8.2); dropped
    /// from here as their page is read back. After a restart, the store lists them (`unloadedShared`).
    var sharedInStoreOnly: [OutboundDelivery] = []
    /// The store sequence of the last queued message read into memory (or queued in memory): the next page
    /// starts after it.
    var lastSequenceInMemory: UInt64 = 0
    /// Whether a page of the stored queue has been asked for and not yet received.
    var awaitsQueuePage = false
    /// Whether the store holds this session (it outlives its connection; see `Broker.recordSession`).
    var isStored = false

    /// Queued messages, in memory and in the store only; what the queue limits count.
    var queuedCount: Int { queue.count + queuedInStoreOnly }

    init(clientID: ClientIdentifier, protocolVersion: ProtocolVersion, expiryInterval: UInt32) {
        self.clientID = clientID
        self.protocolVersion = protocolVersion
        self.expiryInterval = expiryInterval
    }

    /// The next free packet identifier; identifiers wrap and skip those in flight [MQTT-2.2.1-3].
    mutating func allocatePacketIdentifier() -> UInt16? {
        guard inflight.count < 65_535 else { return nil }
        var candidate = lastPacketIdentifier
        repeat {
            candidate = candidate == UInt16.max ? 1 : candidate + 1
        } while inflight.contains(candidate)
        lastPacketIdentifier = candidate
        return candidate
    }

}
