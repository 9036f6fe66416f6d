// libFuzzer target for MQTTPacketDecoder (scripts/fuzz decoder SECONDS).
//
// Built two ways from this one file:
// - by scripts/fuzz with `-D FUZZING -sanitize=fuzzer,address`: main hands control to libFuzzer
//   (LLVMFuzzerRunDriver), which calls `LLVMFuzzerTestOneInput` with generated inputs;
// - by a plain `swift build`: a replayer, `MQTTDecoderFuzzer FILE|DIR...`, that runs saved inputs (the corpus,
//   a crash artifact) through the same checks without libFuzzer. scripts/test replays Fuzz/corpus/decoder.
//
// The oracle, for every input and each starting state of the decoder (server side, version unknown until
// CONNECT; client side for 3.1, 3.1.1 and 5.0):
// 1. decoding never traps: a malformed input ends in an MQTTDecodingError (typed throws: nothing else can be
//    thrown), and every such error maps to a reason code;
// 2. nil (an incomplete packet) leaves the buffer untouched; a returned packet consumed at least one byte;
// 3. every decoded packet encodes again for the decoder's version, in exactly `encodedSize(version:)` bytes,
//    and those bytes decode to an equal packet, consuming all of them;
// 4. feeding the same bytes one at a time yields the same packets and ends with the same error (the decoder is
//    incremental: its result must not depend on how the bytes arrive);
// 5. so does feeding them through `InboundBytes` (what the server's and client's handlers decode from) in reads of
//    varied sizes, which put a packet split between two reads together on its own.
// A violated rule is a `fatalError`, which libFuzzer reports as a crash and saves the input for.

import MQTTCore
import NIOCore

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

/// The decoder's starting states: server side (nil: learns the version from CONNECT) and client side.
let startingVersions: [ProtocolVersion?] = [nil, .v3_1, .v3_1_1, .v5]
let maximumPacketSize = 1 << 20

/// How decoding a whole input ended: the packets in order, then the error that stopped it (nil: ran out of bytes).
struct Outcome: Equatable {
    var packets: [Packet] = []
    var error: MQTTDecodingError?
}

func hex(_ buffer: ByteBuffer) -> String {
    buffer.readableBytesView.map { byte in
        let digits = String(byte, radix: 16)
        return byte < 16 ? "0" + digits : digits
    }.joined(separator: " ")
}

/// Decodes all of `input` at once, checking rules 1 to 3 on the way.
func decodeAll(_ input: ByteBuffer, from start: ProtocolVersion?) -> Outcome {
    var decoder = MQTTPacketDecoder(maximumPacketSize: maximumPacketSize, protocolVersion: start)
    var buffer = input
    var outcome = Outcome()
    while true {
        let before = buffer
        let packet: Packet?
        do {
            packet = try decoder.decode(&buffer)
        } catch {
            _ = error.reasonCode
            _ = error.description
            outcome.error = error
            return outcome
        }
        guard let packet else {
            if buffer != before || buffer.readerIndex != before.readerIndex {
                fatalError("decode returned nil but moved the buffer (start \(String(describing: start)))")
            }
            return outcome
        }
        if buffer.readerIndex == before.readerIndex {
            fatalError("decode returned \(packet) without consuming bytes")
        }
        guard let version = decoder.protocolVersion else {
            fatalError("decode returned \(packet) while the protocol version is unknown")
        }
        checkRoundTrip(packet, version: version)
        outcome.packets.append(packet)
    }
}

/// Rule 3: encode, check the size, decode again, compare.
func checkRoundTrip(_ packet: Packet, version: ProtocolVersion) {
    var encoded = ByteBuffer()
    do {
        try packet.encode(into: &encoded, version: version)
    } catch {
        fatalError("a decoded packet does not encode for MQTT \(version): \(error)\npacket: \(packet)")
    }
    let expectedSize = packet.encodedSize(version: version)
    if encoded.readableBytes != expectedSize {
        fatalError("encode wrote \(encoded.readableBytes) bytes, encodedSize says \(expectedSize)\npacket: \(packet)")
    }
    var decoder = MQTTPacketDecoder(
        maximumPacketSize: MQTTPacketDecoder.largestPossiblePacketSize, protocolVersion: version)
    var reread = encoded
    let again: Packet?
    do {
        again = try decoder.decode(&reread)
    } catch {
        fatalError("""
            re-encoded packet does not decode for MQTT \(version): \(error)
            packet: \(packet)
            bytes:  \(hex(encoded))
            """)
    }
    guard let again, again == packet, reread.readableBytes == 0 else {
        fatalError("""
            round trip changed the packet (MQTT \(version)), \(reread.readableBytes) bytes left over
            first:  \(packet)
            second: \(again.map { "\($0)" } ?? "nil (incomplete)")
            bytes:  \(hex(encoded))
            """)
    }
}

/// Rule 4: the same input delivered one byte at a time.
func decodeByteByByte(_ input: ByteBuffer, from start: ProtocolVersion?) -> Outcome {
    var decoder = MQTTPacketDecoder(maximumPacketSize: maximumPacketSize, protocolVersion: start)
    var buffer = ByteBuffer()
    var outcome = Outcome()
    for byte in input.readableBytesView {
        buffer.writeInteger(byte)
        do {
            while let packet = try decoder.decode(&buffer) {
                outcome.packets.append(packet)
            }
        } catch {
            outcome.error = error
            return outcome
        }
    }
    return outcome
}

/// Rule 5: the same input in reads of sizes that cycle through `readSizes` (starting at an offset taken from the
/// input), through `InboundBytes`, every decoded packet kept (their payloads share the reads' storage).
let readSizes = [1, 7, 64, 3, 300, 2, 1024, 5]

func decodeThroughInboundBytes(_ input: ByteBuffer, from start: ProtocolVersion?) -> Outcome {
    var decoder = MQTTPacketDecoder(maximumPacketSize: maximumPacketSize, protocolVersion: start)
    var inbound = InboundBytes()
    var outcome = Outcome()
    var rest = input
    var size = Int(input.getInteger(at: input.readerIndex, as: UInt8.self) ?? 0) % readSizes.count
    while rest.readableBytes > 0 {
        let read = rest.readSlice(length: min(readSizes[size], rest.readableBytes))!
        size = (size + 1) % readSizes.count
        inbound.append(ByteBuffer(bytes: read.readableBytesView), allocator: ByteBufferAllocator())
        do {
            while let packet = try inbound.decode(with: &decoder) {
                outcome.packets.append(packet)
            }
        } catch {
            outcome.error = error
            return outcome
        }
    }
    return outcome
}

/// Runs all the checks on one input; returns how decoding ended from each starting state.
@discardableResult
func checkInput(_ bytes: UnsafeRawBufferPointer) -> [Outcome] {
    let input = ByteBuffer(bytes: bytes)
    return startingVersions.map { start in
        let whole = decodeAll(input, from: start)
        let streamed = decodeByteByByte(input, from: start)
        if streamed != whole {
            fatalError("""
                decoding byte by byte differs from decoding at once (start \(String(describing: start)))
                at once:      \(whole.packets.count) packets, then \(String(describing: whole.error))
                byte by byte: \(streamed.packets.count) packets, then \(String(describing: streamed.error))
                """)
        }
        let inbound = decodeThroughInboundBytes(input, from: start)
        if inbound != whole {
            fatalError("""
                decoding through InboundBytes differs from decoding at once (start \(String(describing: start)))
                at once:       \(whole.packets.count) packets, then \(String(describing: whole.error))
                InboundBytes:  \(inbound.packets.count) packets, then \(String(describing: inbound.error))
                """)
        }
        return whole
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    checkInput(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#if FUZZING
/// libFuzzer's entry point for programs that have their own main (SwiftPM links executables with their own main).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt
#endif

@main
enum MQTTDecoderFuzzer {
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
    /// Runs every file named, or found in a directory named, through the checks. A failed check traps.
    static func replay(_ paths: [String]) {
        if paths.isEmpty {
            print("usage: MQTTDecoderFuzzer FILE|DIRECTORY...  (replays inputs; fuzz with scripts/fuzz decoder)")
            exit(2)
        }
        let files = FileManager.default
        var inputs: [String] = []
        for path in paths {
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
            let outcomes = data.withUnsafeBytes { checkInput($0) }
            let summary = zip(startingVersions, outcomes).map { start, outcome in
                let name = start.map { "\($0)" } ?? "server"
                let end = outcome.error.map { " + \($0.reasonCode)" } ?? ""
                return "\(name): \(outcome.packets.count)\(end)"
            }
            print("\(input) (\(data.count) bytes): \(summary.joined(separator: ", "))")
        }
        print("replayed \(inputs.count) inputs: all checks passed")
    }
    #endif
}
