#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The file system as configuration loading sees it: reading a file, listing an `include_dir` directory in
/// Mosquitto's order, and making paths absolute. Failures carry the system's reason (`strerror`).
enum ConfigurationFiles {
    struct Failure: Error {
        var reason: String
    }

    /// The process's current directory.
    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `path` made absolute against `directory` when it is relative, with `.` and `..` components and repeated
    /// slashes removed (lexically: symbolic links are not followed).
    static func absolute(_ path: String, from directory: String) -> String {
        let joined = path.hasPrefix("/") ? path : directory + "/" + path
        var components: [Substring] = []
        for component in joined.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..": if !components.isEmpty { components.removeLast() }
            default: components.append(component)
            }
        }
        return "/" + components.joined(separator: "/")
    }

    /// The whole content of a regular file.
    static func contents(of path: String) throws(Failure) -> [UInt8] {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw Failure(reason: systemReason()) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw Failure(reason: systemReason()) }
        guard (status.st_mode & S_IFMT) != S_IFDIR else { throw Failure(reason: "is a directory") }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(reason: systemReason())
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<count])
        }
    }

    /// The names of the files of `directory` that end in `.conf` (and are longer than that), in the order Mosquitto
    /// loads them: see `mosquittoOrder`.
    static func configurationFiles(in directory: String) throws(Failure) -> [String] {
        guard let stream = opendir(directory) else { throw Failure(reason: systemReason()) }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.utf8.count > 5 && name.hasSuffix(".conf") { names.append(name) }
        }
        return names.sorted(by: mosquittoOrder)
    }

    /// Mosquitto's order for included files: byte by byte, letters compared without case first, and where two
    /// names differ only in case at a position, upper case first (`00.conf`, `A.conf`, `a.conf`, `B.conf`).
    static func mosquittoOrder(_ left: String, _ right: String) -> Bool {
        func upper(_ byte: UInt8) -> UInt8 { (0x61...0x7A).contains(byte) ? byte - 0x20 : byte }
        for (a, b) in zip(left.utf8, right.utf8) where a != b {
            if upper(a) != upper(b) { return upper(a) < upper(b) }
            return a < b
        }
        return left.utf8.count < right.utf8.count
    }

    private static func systemReason() -> String {
        String(cString: strerror(errno))
    }
}
