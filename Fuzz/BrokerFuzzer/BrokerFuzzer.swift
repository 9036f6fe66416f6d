// libFuzzer target for the broker core (scripts/fuzz broker SECONDS): structure-aware packet sequences.
//
// An input is a script run against one `Broker` and up to four client connections. Each step takes an operation
// byte and a few argument bytes: open a connection, send it a packet built from the bytes (CONNECT, PUBLISH, the
// acknowledgements, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT, AUTH, with fields drawn from small pools so that
// client identifiers, topics and packet identifiers collide often), send it raw bytes, close it, let time pass,
// complete its authentication, or reload the access rules. Packets reach the broker as they do in the server:
// encoded for the connection's protocol version and decoded by that connection's `MQTTPacketDecoder`, a decoding
// error going to `Broker.decodingFailed`.
//
// The oracle, checked after every step:
// 1. nothing traps (force unwraps, preconditions, out-of-range indexes in the broker);
// 2. every packet the broker sends encodes for the connection's version in exactly `encodedSize` bytes and decodes,
//    as a client decodes it, to an equal packet;
// 3. the first packet a connection receives is CONNACK [MQTT-3.2.0-1], and nothing follows a refusing CONNACK
//    [MQTT-3.2.2-7]; nothing is sent to a connection after the broker closed it;
// 4. a PUBLISH of QoS 0 has no packet identifier, one of QoS 1 or 2 has a non-zero one [MQTT-2.2.1-2];
// 5. only servers' packets are sent (no CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ);
// 6. publisher flow control: a connection is paused only while not paused and resumed only while paused, and
//    after the script, once `Broker.longestHold` has passed, no connection is still paused.
// A paused connection is not read, as in the server: what its client sends waits, and so does the rest of the read
// that paused it.
//
// Built like the decoder target: with `-D FUZZING` for libFuzzer, else as a replayer of saved inputs.

import MQTTCore
import NIOCore
import TernBroker

#if FUZZING
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
#else
import Foundation
#endif

/// Reads argument bytes from the input; past its end, zeros.
struct ScriptReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    var isAtEnd: Bool { offset >= bytes.count }

    mutating func byte() -> UInt8 {
        defer { offset += 1 }
        return offset < bytes.count ? bytes[offset] : 0
    }

    mutating func pick<T>(_ pool: [T]) -> T { pool[Int(byte()) % pool.count] }

    mutating func bool() -> Bool { byte() & 1 == 1 }

    mutating func uint16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }
}

enum Pools {
    static let clientIDs = ["a", "b", "c", "", "a"]
    static let topics = ["a", "a/b", "b/c", "$SYS/x", "$app/y", "clients/a/status", "", "a/+", "#", "x/y/z"]
    static let filters = ["a", "a/#", "+/b", "#", "+", "$SYS/#", "$share/g/a/#", "$share/g/#", "$share/h/+/b",
                          "a/#/b", "clients/+/status", "x/y/z"]
    static let identifiers: [UInt16] = [1, 2, 3, 0, 65_535]
    static let versions: [ProtocolVersion] = [.v5, .v3_1_1, .v3_1, .v5]
    static let reasonCodes: [ReasonCode] = [.success, .disconnectWithWillMessage, .unspecifiedError, .notAuthorized,
                                            .packetIdentifierNotFound, .protocolError]
    static let accessControl = try! AccessControlList(parsing: """
        topic read a/#
        user u
        topic readwrite a/#
        topic deny a/b
        pattern readwrite clients/%c/#
        """, path: "fuzz")
}

/// The broker's output, checked as it is written.
struct CheckedOutput: BrokerOutput {
    var versions: [ConnectionID: ProtocolVersion] = [:]
    var received: [ConnectionID: Int] = [:]
    var closed: Set<ConnectionID> = []
    var refused: Set<ConnectionID> = []
    var authenticationRequests: [ConnectionID] = []
    /// Connections the broker stopped reading (publisher flow control).
    var paused: Set<ConnectionID> = []

    mutating func send(_ packet: Packet, to connection: ConnectionID) {
        if closed.contains(connection) { fatalError("\(packet.type) sent to \(connection) after its close") }
        if refused.contains(connection) { fatalError("\(packet.type) sent to \(connection) after a refusing CONNACK") }
        let count = received[connection, default: 0]
        if count == 0, packet.type != .connack { fatalError("first packet to \(connection) is \(packet.type)") }
        received[connection] = count + 1
        switch packet {
        case .connack(let connack) where !connack.reasonCode.isSuccess:
            refused.insert(connection)
        case .publish(let publish):
            if (publish.qos == .atMostOnce) != (publish.packetIdentifier == nil) || publish.packetIdentifier == 0 {
                fatalError("PUBLISH \(publish.qos) with packet identifier \(String(describing: publish.packetIdentifier))")
            }
        case .connect, .subscribe, .unsubscribe, .pingreq:
            fatalError("a client's packet sent by the broker: \(packet)")
        default:
            break
        }
        checkRoundTrip(packet, version: versions[connection] ?? .v3_1_1)
    }

    /// Rule 2 for deliveries too: the bytes the server writes straight from the message are those of the packet.
    mutating func send(_ publish: OutgoingPublish, to connection: ConnectionID) {
        let version = versions[connection] ?? .v3_1_1
        var direct = ByteBuffer()
        var viaPacket = ByteBuffer()
        let directEncodes = (try? publish.encode(into: &direct, version: version)) != nil
        let packetEncodes = (try? Packet.publish(publish.packet).encode(into: &viaPacket, version: version)) != nil
        if directEncodes != packetEncodes || direct != viaPacket
            || (directEncodes && publish.encodedSize(version: version) != direct.readableBytes)
        {
            fatalError("a delivery encoded from its message differs from its packet: \(publish.packet)")
        }
        send(.publish(publish.packet), to: connection)
    }

    mutating func close(_ connection: ConnectionID) {
        closed.insert(connection)
    }

    mutating func authenticate(_ request: AuthenticationRequest) {
        authenticationRequests.append(request.connection)
    }

    /// Rule 6.
    mutating func pauseReading(_ connection: ConnectionID) {
        if paused.contains(connection) { fatalError("\(connection) paused while paused") }
        paused.insert(connection)
    }

    mutating func resumeReading(_ connection: ConnectionID) {
        if paused.remove(connection) == nil { fatalError("\(connection) resumed while not paused") }
    }
}

/// Rule 2: what the broker sends is a packet a client can read back. Compared as bytes (the decoded packet encodes
/// to the same bytes): a 3.1.1 CONNACK carries a return code, so its reason code does not survive the trip.
func checkRoundTrip(_ packet: Packet, version: ProtocolVersion) {
    var encoded = ByteBuffer()
    do {
        try packet.encode(into: &encoded, version: version)
    } catch {
        fatalError("the broker sent a packet that does not encode for MQTT \(version): \(error)\n\(packet)")
    }
    if encoded.readableBytes != packet.encodedSize(version: version) {
        fatalError("encodedSize differs from the bytes written for \(packet)")
    }
    var decoder = MQTTPacketDecoder(protocolVersion: version)
    var reread = encoded
    do {
        var again = ByteBuffer()
        guard let decoded = try decoder.decode(&reread), reread.readableBytes == 0,
            (try? decoded.encode(into: &again, version: version)) != nil, again == encoded
        else {
            fatalError("the broker's \(packet.type) does not read back as sent (MQTT \(version)): \(packet)")
        }
    } catch {
        fatalError("the broker's \(packet.type) does not decode for MQTT \(version): \(error)\n\(packet)")
    }
}

/// One client connection of the script, as the server's connection handler sees it.
struct FuzzConnection {
    let id: ConnectionID
    var decoder: MQTTPacketDecoder
    var failed = false
    /// What the client sent that was not read: the rest of the read that paused the connection, and what came
    /// while it was paused.
    var unread = ByteBuffer()
}

/// Runs one script.
func runScript(_ bytes: UnsafeRawBufferPointer) {
    var settings = BrokerSettings()
    settings.topicAliasMaximum = 3
    settings.receiveMaximum = 4
    settings.maximumInflightMessages = 2
    settings.maximumQueuedMessages = 5
    settings.maximumPacketSize = 4096
    settings.messageSizeLimit = 64
    let broker = Broker(settings: settings)
    var output = CheckedOutput()
    var now = NIODeadline.uptimeNanoseconds(1_000_000_000)
    var slots: [FuzzConnection?] = [nil, nil, nil, nil]
    var nextID: UInt64 = 0
    var script = ScriptReader(bytes: bytes)

    func feed(_ bytes: ByteBuffer, slot: Int) {
        guard var connection = slots[slot], !connection.failed else { return }
        var buffer = connection.unread
        buffer.writeImmutableBuffer(bytes)
        connection.unread = ByteBuffer()
        defer { slots[slot] = connection }
        guard !output.paused.contains(connection.id) else {
            connection.unread = buffer
            return
        }
        do {
            // Packets to the client are encoded with the version its decoder learnt, as the server does.
            while let packet = try connection.decoder.decode(&buffer) {
                output.versions[connection.id] = connection.decoder.protocolVersion
                broker.receive(packet, from: connection.id, now: now, output: &output)
                if output.paused.contains(connection.id) {
                    connection.unread = buffer
                    return
                }
            }
        } catch {
            output.versions[connection.id] = connection.decoder.protocolVersion
            connection.failed = true
            broker.decodingFailed(error, connection: connection.id, protocolVersion: connection.decoder.protocolVersion,
                                  now: now, output: &output)
        }
    }

    /// Reads the connections resumed since their pause, as the server does when it reads them again.
    func readResumed() {
        for slot in slots.indices {
            if let connection = slots[slot], connection.unread.readableBytes > 0,
                !output.paused.contains(connection.id)
            {
                feed(ByteBuffer(), slot: slot)
            }
        }
    }

    /// The peer or the script closed a connection: the server forgets it, paused or not.
    func closed(_ connection: FuzzConnection) {
        broker.connectionClosed(connection.id, now: now, output: &output)
        output.paused.remove(connection.id)
    }

    var steps = 0
    while !script.isAtEnd && steps < 200 {
        steps += 1
        readResumed()
        let operation = script.byte()
        let slot = Int(script.byte()) % slots.count
        switch operation % 9 {
        case 0:  // open (or reopen) a connection
            if let old = slots[slot] { closed(old) }
            nextID += 1
            let id = ConnectionID(nextID)
            slots[slot] = FuzzConnection(id: id, decoder: MQTTPacketDecoder(maximumPacketSize: 4096))
            broker.connectionOpened(id, now: now, requiresAuthentication: script.bool())
        case 1, 2, 3:  // a structured packet, the most common step
            guard let connection = slots[slot] else { continue }
            let version = connection.decoder.protocolVersion ?? script.pick(Pools.versions)
            let packet = makePacket(&script, version: version)
            var encoded = ByteBuffer()
            guard (try? packet.encode(into: &encoded, version: version)) != nil else { continue }
            feed(encoded, slot: slot)
        case 4:  // raw bytes
            let count = Int(script.byte() % 32)
            var raw = ByteBuffer()
            for _ in 0..<count { raw.writeInteger(script.byte()) }
            feed(raw, slot: slot)
        case 5:  // the peer closes
            if let connection = slots[slot] {
                closed(connection)
                slots[slot] = nil
            }
        case 6:  // time passes
            now = now + .milliseconds(Int64(script.byte()) * 250)
            broker.tick(now: now, output: &output)
        case 7:  // an authentication completes
            guard let connection = slots[slot] else { continue }
            let result: AuthenticationResult = switch script.byte() % 3 {
            case 0: .accepted(username: nil)
            case 1: .accepted(username: "u", accessControl: Pools.accessControl)
            default: .refused(.notAuthorized)
            }
            broker.authenticationCompleted(connection.id, result: result, now: now, output: &output)
        default:  // the security files are reloaded
            let keep = script.bool()
            broker.reauthorize(now: now, output: &output) { _, _, username in
                keep ? .accepted(username: username, accessControl: Pools.accessControl) : .refused(.notAuthorized)
            }
        }
    }
    // Rule 6: no hold outlasts `Broker.longestHold` (connections the broker closed are forgotten by the server).
    readResumed()
    now = now + .milliseconds(1_100)
    broker.tick(now: now, output: &output)
    readResumed()
    if let stuck = output.paused.subtracting(output.closed).first {
        fatalError("\(stuck) still paused 1.1 s after the script")
    }
    broker.shutdown(output: &output)
}

/// A packet a client could send, its fields drawn from the script.
func makePacket(_ script: inout ScriptReader, version: ProtocolVersion) -> Packet {
    let v5 = version == .v5
    switch script.byte() % 12 {
    case 0:
        var properties = Properties()
        if v5 && script.bool() { properties.sessionExpiryInterval = script.pick([0, 1, 10, UInt32.max]) }
        if v5 && script.bool() { properties.receiveMaximum = script.pick([1, 2, 100]) }
        if v5 && script.bool() { properties.topicAliasMaximum = script.pick([0, 1, 5]) }
        if v5 && script.bool() { properties.maximumPacketSize = script.pick([30, 64, 1000]) }
        if v5 && script.bool() { properties.requestResponseInformation = true }
        var will: LastWill?
        if script.bool() {
            var willProperties = Properties()
            if v5 && script.bool() { willProperties.willDelayInterval = script.pick([0, 1, 5]) }
            will = LastWill(topic: script.pick(Pools.topics), payload: ByteBuffer(string: "will"),
                            qos: QoS(rawValue: script.byte() % 3)!, retain: script.bool(), properties: willProperties)
        }
        let clientID = script.pick(Pools.clientIDs)
        return .connect(ConnectPacket(
            protocolVersion: version, cleanStart: script.bool(), keepAlive: script.pick([0, 1, 60]),
            clientIdentifier: version == .v3_1 && clientID.isEmpty ? "a" : clientID, will: will,
            username: script.bool() ? "u" : nil, password: script.bool() ? ByteBuffer(string: "p") : nil,
            properties: properties))
    case 1, 2, 3:
        let qos = QoS(rawValue: script.byte() % 3)!
        var properties = Properties()
        var topic = script.pick(Pools.topics)
        if v5 && script.bool() {
            properties.topicAlias = script.pick([1, 2, 3, 4])
            if script.bool() { topic = "" }
        }
        if v5 && script.bool() { properties.messageExpiryInterval = script.pick([0, 1, 3]) }
        if v5 && script.bool() { properties.responseTopic = "r/t" }
        let size = Int(script.byte() % 80)
        return .publish(PublishPacket(
            topic: topic, payload: ByteBuffer(repeating: 0x61, count: size), qos: qos, retain: script.bool(),
            duplicate: qos != .atMostOnce && script.bool(),
            packetIdentifier: qos == .atMostOnce ? nil : script.pick(Pools.identifiers), properties: properties))
    case 4:
        return .puback(PublishAckPacket(packetIdentifier: script.pick(Pools.identifiers),
                                        reasonCode: v5 && script.bool() ? .unspecifiedError : .success))
    case 5:
        return .pubrec(PublishAckPacket(packetIdentifier: script.pick(Pools.identifiers),
                                        reasonCode: v5 && script.bool() ? .unspecifiedError : .success))
    case 6:
        return .pubrel(PublishAckPacket(packetIdentifier: script.pick(Pools.identifiers)))
    case 7:
        return .pubcomp(PublishAckPacket(packetIdentifier: script.pick(Pools.identifiers)))
    case 8:
        let count = 1 + Int(script.byte() % 3)
        let subscriptions = (0..<count).map { _ in
            Subscription(topicFilter: script.pick(Pools.filters), options: SubscriptionOptions(
                qos: QoS(rawValue: script.byte() % 3)!, noLocal: v5 && script.bool(),
                retainAsPublished: v5 && script.bool(),
                retainHandling: v5 ? RetainHandling(rawValue: script.byte() % 3)! : .sendOnSubscribe))
        }
        var properties = Properties()
        if v5 && script.bool() { properties.subscriptionIdentifiers = [UInt32(script.byte() % 4) + 1] }
        return .subscribe(SubscribePacket(packetIdentifier: script.pick(Pools.identifiers),
                                          subscriptions: subscriptions, properties: properties))
    case 9:
        return .unsubscribe(UnsubscribePacket(packetIdentifier: script.pick(Pools.identifiers),
                                              topicFilters: [script.pick(Pools.filters)]))
    case 10:
        return .pingreq
    default:
        if v5 && script.byte() % 4 == 0 { return .auth(AuthPacket(reasonCode: .reAuthenticate)) }
        var properties = Properties()
        if v5 && script.bool() { properties.sessionExpiryInterval = script.pick([0, 5]) }
        return .disconnect(DisconnectPacket(reasonCode: v5 ? script.pick(Pools.reasonCodes) : .normalDisconnection,
                                            properties: properties))
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    runScript(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt
#endif

@main
enum BrokerFuzzer {
    static func main() {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
        #else
        replay(Array(CommandLine.arguments.dropFirst()))
        #endif
    }

    #if !FUZZING
    /// Runs every file named, or found in a directory named, as a script; a failed check traps. With no argument,
    /// runs `--random N` scripts from a fixed seed instead (a smoke test without libFuzzer).
    static func replay(_ arguments: [String]) {
        if arguments.first == "--random" {
            let count = arguments.count > 1 ? Int(arguments[1]) ?? 1000 : 1000
            var generator = SplitMix64(seed: 0x7E52_4E00)
            for _ in 0..<count {
                let bytes = (0..<Int(generator.next() % 600)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                bytes.withUnsafeBytes { runScript($0) }
            }
            print("ran \(count) random scripts: all checks passed")
            return
        }
        guard !arguments.isEmpty else {
            print("usage: BrokerFuzzer FILE|DIRECTORY... | --random N  (fuzz with scripts/fuzz broker)")
            exit(2)
        }
        let files = FileManager.default
        var inputs: [String] = []
        for path in arguments {
            var isDirectory: ObjCBool = false
            guard files.fileExists(atPath: path, isDirectory: &isDirectory) else {
                print("no such file: \(path)")
                exit(2)
            }
            if isDirectory.boolValue {
                let names = (try? files.contentsOfDirectory(atPath: path)) ?? []
                inputs += names.filter { !$0.hasPrefix(".") }.sorted().map { path + "/" + $0 }
            } else {
                inputs.append(path)
            }
        }
        for input in inputs {
            guard let data = files.contents(atPath: input) else {
                print("cannot read \(input)")
                exit(2)
            }
            data.withUnsafeBytes { runScript($0) }
        }
        print("replayed \(inputs.count) inputs: all checks passed")
    }
    #endif
}

/// A small deterministic generator for `--random`.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
