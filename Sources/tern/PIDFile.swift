#if canImport(Glibc)
import Glibc
#endif

/// Mosquitto's `pid_file`: the serving process's id, written when the broker starts (in the foreground or with
/// `-d`) and removed when it stops, for init scripts and monitors that find the broker through it.
struct PIDFile {
    struct WriteError: Error, CustomStringConvertible {
        let path: String
        let errno: Int32
        var description: String { "cannot write pid_file \(path): \(String(cString: strerror(errno)))" }
    }

    let path: String
    private let contents: String

    /// Writes this process's id and a newline to `path`. A file that cannot be written stops the broker, as it
    /// stops Mosquitto.
    init(writingTo path: String) throws(WriteError) {
        self.path = path
        contents = "\(getpid())\n"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw WriteError(path: path, errno: errno) }
        defer { close(descriptor) }
        let written = contents.utf8CString.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count - 1) }
        guard written == contents.utf8.count else { throw WriteError(path: path, errno: written < 0 ? errno : EIO) }
    }

    /// Removes the file, unless another process has written its own id there since.
    func remove() {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = read(descriptor, &buffer, buffer.count)
        close(descriptor)
        if count > 0, String(decoding: buffer[..<count], as: UTF8.self) == contents { unlink(path) }
    }
}
