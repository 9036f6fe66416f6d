import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing
@testable import TernServer

/// The adapter between WebSocket frames and the MQTT byte stream, driven frame by frame.
@Suite struct WebSocketStreamHandlerTests {
    /// A channel with the adapter, as after the upgrade (the frame codec is not needed to test it).
    private func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: WebSocketStreamHandler())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// A frame as a client sends it: masked.
    private func clientFrame(_ opcode: WebSocketOpcode, _ bytes: [UInt8], fin: Bool = true) -> WebSocketFrame {
        let key: WebSocketMaskingKey = [0x12, 0x34, 0x56, 0x78]
        var data = ByteBuffer(bytes: bytes)
        data.webSocketMask(key)
        return WebSocketFrame(fin: fin, opcode: opcode, maskKey: key, data: data)
    }

    private func readBytes(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
        return bytes
    }

    /// The close frame the handler sent, and its status code.
    private func closeCode(_ channel: EmbeddedChannel) throws -> WebSocketErrorCode? {
        let close = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(close.opcode == .connectionClose)
        var data = close.data
        return data.readWebSocketErrorCode()
    }

    private let connect: [UInt8] = [0x10, 0x0C, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C,
                                    0x00, 0x00]
    private let pingreq: [UInt8] = [0xC0, 0x00]

    @Test func aPacketSplitAcrossFramesArrivesWhole() throws {
        let channel = try channel()
        try channel.writeInbound(clientFrame(.binary, Array(connect[..<3]), fin: false))
        try channel.writeInbound(clientFrame(.continuation, Array(connect[3..<9]), fin: false))
        try channel.writeInbound(clientFrame(.continuation, Array(connect[9...])))
        #expect(try readBytes(channel) == connect)
        // Also as whole binary frames, which is what MQTT.js sends after a split write.
        try channel.writeInbound(clientFrame(.binary, [0xC0]))
        try channel.writeInbound(clientFrame(.binary, [0x00]))
        #expect(try readBytes(channel) == pingreq)
    }

    @Test func severalPacketsInOneFrameArriveInOrder() throws {
        let channel = try channel()
        try channel.writeInbound(clientFrame(.binary, connect + pingreq + pingreq))
        #expect(try readBytes(channel) == connect + pingreq + pingreq)
    }

    @Test func writtenBytesLeaveAsOneBinaryFrameEach() throws {
        let channel = try channel()
        try channel.writeOutbound(ByteBuffer(bytes: [0x20, 0x02, 0x00, 0x00]))
        try channel.writeOutbound(ByteBuffer())   // the connection table's "written so far" marker: no frame
        try channel.writeOutbound(ByteBuffer(bytes: [0xD0, 0x00]))
        let first = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(first.opcode == .binary && first.fin && first.maskKey == nil)
        #expect(Array(first.data.readableBytesView) == [0x20, 0x02, 0x00, 0x00])
        let second = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(Array(second.data.readableBytesView) == [0xD0, 0x00])
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
    }

    @Test func aPingIsAnsweredWithAPongCarryingItsData() throws {
        let channel = try channel()
        try channel.writeInbound(clientFrame(.ping, [1, 2, 3]))
        let pong = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(pong.opcode == .pong)
        #expect(Array(pong.data.readableBytesView) == [1, 2, 3])
        #expect(try readBytes(channel).isEmpty)
        #expect(channel.isActive)
    }

    @Test func aCloseFrameIsEchoedAndTheConnectionCloses() throws {
        let channel = try channel()
        try channel.writeInbound(clientFrame(.connectionClose, [0x03, 0xE9]))   // 1001 going away
        #expect(try closeCode(channel) == .goingAway)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test func aTextFrameClosesWith1003() throws {
        let channel = try channel()
        try channel.writeInbound(clientFrame(.text, Array("hello".utf8)))
        #expect(try readBytes(channel).isEmpty)
        #expect(try closeCode(channel) == .unacceptableData)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test func closingFromTheServerSendsANormalCloseFrameFirst() throws {
        let channel = try channel()
        try channel.writeOutbound(ByteBuffer(bytes: [0x20, 0x02, 0x00, 0x05]))
        channel.close(promise: nil)
        channel.embeddedEventLoop.run()
        let connack = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(connack.opcode == .binary)
        #expect(try closeCode(channel) == .normalClosure)
        #expect(!channel.isActive)
    }

    @Test func framesAfterTheCloseAreIgnored() throws {
        let channel = try channel()
        try channel.writeInbound(clientFrame(.text, [0x41]))
        try? channel.writeInbound(clientFrame(.binary, pingreq))
        #expect(try readBytes(channel).isEmpty)
    }
}
