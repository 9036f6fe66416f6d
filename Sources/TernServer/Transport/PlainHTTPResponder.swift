import NIOCore
import NIOHTTP1
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// The answer of a WebSocket listener to an HTTP request that it does not upgrade. With `http_dir`, a GET or HEAD
/// gets the file it names (`HTTPDirectory`), read on NIO's thread pool and sent a chunk at a time; otherwise a plain
/// request (a browser opening the address as a page) gets 426 Upgrade Required. A page from an origin that is not
/// allowed gets 403, a WebSocket request without an MQTT subprotocol 400. Then the connection is closed. It also
/// closes a connection that has not upgraded within `upgradeTimeout`, and one whose file download has not moved for
/// as long. The upgrade removes it.
final class PlainHTTPResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Bytes read from a file and written per step: the next step waits until the previous one was written.
    static let chunkSize = 64 * 1024

    private let settings: WebSocketSettings
    private var head: HTTPRequestHead?
    private var deadline: Scheduled<Void>?
    /// Set by the first request: every answer closes the connection, so requests sent after it are ignored.
    private var answering = false

    init(settings: WebSocketSettings) {
        self.settings = settings
    }

    func handlerAdded(context: ChannelHandlerContext) {
        resetDeadline(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    private func resetDeadline(context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: settings.upgradeTimeout) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head, !answering else { return }
            self.head = nil
            answering = true
            respond(to: head, context: context)
        }
    }

    private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
        let wantsWebSocket = request.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
        if !wantsWebSocket, let directory = settings.httpDirectory {
            guard request.method == .GET || request.method == .HEAD else {
                return send(.methodNotAllowed, "Only GET and HEAD are served here.\n",
                            extraHeaders: [("Allow", "GET, HEAD")], to: request, context: context)
            }
            return serve(request, from: directory, context: context)
        }
        if wantsWebSocket && !settings.allows(request.headers) {
            let origin = request.headers.first(name: "origin") ?? ""
            send(.forbidden, "WebSocket connections from origin \(origin) are not allowed.\n", to: request,
                 context: context)
        } else if wantsWebSocket, case .failure(let mismatch) = settings.subprotocol(for: request.headers) {
            send(.badRequest, """
                This listener speaks MQTT over WebSocket: subprotocol \
                \(WebSocketSettings.subprotocols.joined(separator: " or ")), not \
                \(mismatch.offered.joined(separator: ", ")).\n
                """, to: request, context: context)
        } else if wantsWebSocket {
            send(.badRequest, "Malformed WebSocket upgrade request.\n", to: request, context: context)
        } else {
            send(.upgradeRequired, """
                This is an MQTT over WebSocket listener: connect with an MQTT client over WebSocket \
                (subprotocol mqtt), e.g. MQTT.js with ws://host:port/mqtt.\n
                """, extraHeaders: [("Upgrade", "websocket")], to: request, context: context)
        }
    }

    /// A short plain-text answer, then the connection is closed.
    private func send(_ status: HTTPResponseStatus, _ text: String, extraHeaders: [(String, String)] = [],
                      to request: HTTPRequestHead, context: ChannelHandlerContext)
    {
        var headers = HTTPHeaders(extraHeaders)
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(text.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status,
                                                             headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))),
                          promise: nil)
        }
        finish(context: context)
    }

    private func finish(context: ChannelHandlerContext) {
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }

    // MARK: Files

    private func serve(_ request: HTTPRequestHead, from directory: HTTPDirectory, context: ChannelHandlerContext) {
        let target = request.uri
        NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) { () -> Result<OpenFile, FileRefusal> in
            switch directory.resolve(target) {
            case .file(let path): OpenFile.open(path).mapError { _ in .status(.forbidden) }
            case .redirect(let location): .failure(.movedPermanently(location))
            case .refused(let status): .failure(.status(status))
            }
        }.assumeIsolated().whenComplete { result in
            switch result {
            case .success(.success(let file)):
                self.sendFile(file, to: request, context: context)
            case .success(.failure(.movedPermanently(let location))):
                self.send(.movedPermanently, "Moved to \(location)\n", extraHeaders: [("Location", location)],
                          to: request, context: context)
            case .success(.failure(.status(let status))):
                self.send(status, "\(status.code) \(status.reasonPhrase)\n", to: request, context: context)
            case .failure:
                self.send(.internalServerError, "500 Internal Server Error\n", to: request, context: context)
            }
        }
    }

    /// Why a file request gets no file.
    private enum FileRefusal: Error {
        case status(HTTPResponseStatus)
        case movedPermanently(String)
    }

    private func sendFile(_ file: OpenFile, to request: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: HTTPDirectory.contentType(ofFile: file.path))
        headers.add(name: "Content-Length", value: "\(file.size)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: .ok, headers: headers))),
                      promise: nil)
        if request.method == .HEAD || file.size == 0 {
            return finish(context: context)
        }
        sendChunk(of: file, from: 0, context: context)
    }

    /// Reads the chunk at `offset` on the thread pool, writes it, and goes on once it is written.
    private func sendChunk(of file: OpenFile, from offset: Int, context: ChannelHandlerContext) {
        resetDeadline(context: context)
        let allocator = context.channel.allocator
        let count = min(Self.chunkSize, file.size - offset)
        NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) {
            try file.read(count, at: offset, allocator: allocator)
        }.assumeIsolated().flatMap { chunk in
            context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(chunk)))).map { chunk.readableBytes }
        }.whenComplete { result in
            switch result {
            case .success(let written) where written == count:
                let next = offset + written
                if next < file.size {
                    self.sendChunk(of: file, from: next, context: context)
                } else {
                    self.finish(context: context)
                }
            default:
                // Read failed, the file shrank, or the client went away: the response cannot be completed.
                context.close(promise: nil)
            }
        }
    }
}

/// A file opened for a response; closed when the last reference to it goes.
private final class OpenFile: Sendable {
    let path: String
    let descriptor: CInt
    let size: Int

    private init(path: String, descriptor: CInt, size: Int) {
        self.path = path
        self.descriptor = descriptor
        self.size = size
    }

    deinit { close(descriptor) }

    static func open(_ path: String) -> Result<OpenFile, IOError> {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(IOError(errnoCode: errno, reason: "open")) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            close(descriptor)
            return .failure(IOError(errnoCode: code, reason: "fstat"))
        }
        return .success(OpenFile(path: path, descriptor: descriptor, size: Int(status.st_size)))
    }

    /// Up to `count` bytes from `offset`; fewer when the file ends sooner. Blocking.
    func read(_ count: Int, at offset: Int, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        var buffer = allocator.buffer(capacity: count)
        var failure: CInt?
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
            let read = pread(descriptor, bytes.baseAddress, count, off_t(offset))
            if read < 0 { failure = errno }
            return max(0, read)
        }
        if let failure { throw IOError(errnoCode: failure, reason: "pread") }
        return buffer
    }
}
