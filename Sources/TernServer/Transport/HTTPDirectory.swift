import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif

/// The files a WebSocket listener serves over plain HTTP (Mosquitto's `http_dir`), typically the web page whose
/// script then connects back over MQTT on the same listener.
///
/// A request's path is percent-decoded and resolved against the directory with `realpath`, and whatever it leads
/// to must lie inside the directory: `..` segments or symbolic links that lead out are refused (403), as Mosquitto
/// refuses them. A directory is answered by its `index.html`; asked for without its final slash, by a redirect
/// that adds it, so that the page's relative links resolve. Only regular files are served.
public struct HTTPDirectory: Sendable, Equatable {
    /// The directory, resolved (`realpath`) when the listener was set up.
    public let root: String

    /// - Throws: when `path` does not lead to a directory.
    public init(path: String) throws(HTTPDirectoryError) {
        guard let resolved = Self.realpath(path), Self.fileType(resolved) == S_IFDIR else {
            throw HTTPDirectoryError(path: path)
        }
        root = resolved
    }

    /// What a request for `target` gets.
    public enum Resolution: Equatable, Sendable {
        /// The file to send, resolved.
        case file(path: String)
        /// The same target with a slash after the path: it names a directory.
        case redirect(location: String)
        case refused(HTTPResponseStatus)
    }

    /// Where the request target (`/path?query`) leads. Blocking (`realpath`, `stat`): call it off the event loop.
    public func resolve(_ target: String) -> Resolution {
        let end = target.firstIndex { $0 == "?" || $0 == "#" } ?? target.endIndex
        let written = target[..<end]
        guard written.hasPrefix("/"), let decoded = Self.percentDecoded(written), !decoded.contains("\0") else {
            return .refused(.badRequest)
        }
        guard let resolved = Self.realpath(root + decoded) else {
            switch errno {
            case ENOENT, ENOTDIR: return .refused(.notFound)
            case EACCES: return .refused(.forbidden)
            case ENAMETOOLONG: return .refused(.uriTooLong)
            default: return .refused(.internalServerError)
            }
        }
        guard contains(resolved) else { return .refused(.forbidden) }
        switch Self.fileType(resolved) {
        case S_IFDIR: break
        case S_IFREG: return .file(path: resolved)
        default: return .refused(.forbidden)
        }
        guard written.hasSuffix("/") else { return .redirect(location: "\(written)/\(target[end...])") }
        let index = resolved + (resolved.hasSuffix("/") ? "" : "/") + "index.html"
        guard let page = Self.realpath(index) else { return .refused(.notFound) }
        return contains(page) && Self.fileType(page) == S_IFREG ? .file(path: page) : .refused(.forbidden)
    }

    /// The `Content-Type` for a file, by its extension; `application/octet-stream` for the rest.
    public static func contentType(ofFile path: String) -> String {
        let name = path.split(separator: "/").last ?? ""
        guard let dot = name.lastIndex(of: ".") else { return "application/octet-stream" }
        return contentTypes[name[name.index(after: dot)...].lowercased()] ?? "application/octet-stream"
    }

    private static let contentTypes: [String: String] = [
        "html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8", "css": "text/css; charset=utf-8",
        "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
        "json": "application/json", "map": "application/json", "txt": "text/plain; charset=utf-8",
        "xml": "application/xml", "svg": "image/svg+xml", "png": "image/png", "jpg": "image/jpeg",
        "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp", "ico": "image/vnd.microsoft.icon",
        "wasm": "application/wasm", "woff": "font/woff", "woff2": "font/woff2", "pdf": "application/pdf",
    ]

    private func contains(_ resolved: String) -> Bool {
        resolved == root || resolved.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    /// `%XX` sequences decoded to their bytes, which must make UTF-8; nil for a malformed sequence.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func realpath(_ path: String) -> String? {
        guard let resolved = Glibc.realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func fileType(_ path: String) -> mode_t? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return status.st_mode & S_IFMT
    }
}

/// `http_dir` names something that is not a directory.
public struct HTTPDirectoryError: Error, CustomStringConvertible {
    public let path: String
    public var description: String { "http_dir \(path): not a directory" }
}
