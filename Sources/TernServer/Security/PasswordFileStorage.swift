#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads and replaces password files with plain POSIX calls, so that failures carry their `errno`.
enum PasswordFileStorage {
    /// The whole file.
    static func contents(ofFile path: String) throws(PasswordFileError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw PasswordFileError(path: path, line: nil, reason: .unreadable(errno: errno)) }
        defer { close(descriptor) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw PasswordFileError(path: path, line: nil, reason: .unreadable(errno: errno))
            }
            if count == 0 { return contents }
            contents.append(contentsOf: chunk[..<count])
        }
    }

    /// Replaces the file's contents with `contents`.
    ///
    /// The new contents go to a temporary file in the same directory that is then renamed over the old one, so a
    /// broker reloading at that moment reads either the old file or the new one, never half of one. A symbolic
    /// link is followed (its target is replaced); an existing file keeps its permissions and, where the caller
    /// may set it, its owner; a new file is created readable and writable by its owner only (0600). When the
    /// directory is not writable the file is rewritten in place instead, as `mosquitto_passwd` does.
    static func replace(path: String, with contents: [UInt8]) throws(PasswordFileError) {
        let target = resolvedPath(path)
        var existing = stat()
        let exists = stat(target, &existing) == 0
        let temporaryTemplate = target + ".tern-passwd.XXXXXX"
        var template = Array(temporaryTemplate.utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            let code = errno
            if exists, code == EACCES || code == EROFS || code == EPERM {
                try rewriteInPlace(path: path, target: target, contents: contents)
                return
            }
            throw PasswordFileError(path: path, line: nil, reason: .unwritable(errno: code))
        }
        let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        do throws(PasswordFileError) {
            defer { close(descriptor) }
            try writeAll(descriptor, contents, path: path)
            if exists {
                _ = fchmod(descriptor, existing.st_mode & 0o7777)
                // Not permitted unless root (or already the owner): the file then belongs to the caller.
                _ = fchown(descriptor, existing.st_uid, existing.st_gid)
            } else {
                _ = fchmod(descriptor, 0o600)
            }
            guard fsync(descriptor) == 0 else {
                throw PasswordFileError(path: path, line: nil, reason: .unwritable(errno: errno))
            }
            guard rename(temporary, target) == 0 else {
                throw PasswordFileError(path: path, line: nil, reason: .unwritable(errno: errno))
            }
        } catch {
            unlink(temporary)
            throw error
        }
        syncDirectory(of: target)
    }

    private static func rewriteInPlace(path: String, target: String, contents: [UInt8]) throws(PasswordFileError) {
        let descriptor = open(target, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard descriptor >= 0 else { throw PasswordFileError(path: path, line: nil, reason: .unwritable(errno: errno)) }
        defer { close(descriptor) }
        try writeAll(descriptor, contents, path: path)
        guard fsync(descriptor) == 0 else {
            throw PasswordFileError(path: path, line: nil, reason: .unwritable(errno: errno))
        }
    }

    private static func writeAll(_ descriptor: Int32, _ contents: [UInt8], path: String) throws(PasswordFileError) {
        var offset = 0
        while offset < contents.count {
            let written = contents[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw PasswordFileError(path: path, line: nil, reason: .unwritable(errno: errno))
            }
            offset += written
        }
    }

    /// The path with symbolic links resolved, or the path itself when it does not exist yet.
    private static func resolvedPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func syncDirectory(of path: String) {
        let directory: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            directory = "."
        }
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }
}
