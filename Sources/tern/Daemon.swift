#if canImport(Glibc)
import Glibc
#endif

/// `tern serve -d`: the broker in the background, as `mosquitto -d` runs it, for init scripts that start it and
/// find it again through its `pid_file`.
///
/// Forking a process that already runs threads (Swift's concurrency pool, Dispatch) would leave the child with
/// one thread and locks held by the others, so the program starts itself again instead: the same arguments, in a
/// session of its own (no controlling terminal), standard input and output on /dev/null, with `childVariable` set
/// in its environment so that it serves rather than starting another. The parent has read the configuration by
/// then, so a bad file still fails in the foreground, and exits at once with status 0, as Mosquitto's does.
enum Daemon {
    static let childVariable = "TERN_DAEMON_CHILD"

    /// Whether this process is the background broker that a `-d` started; the variable is taken out of the
    /// environment, so that programs the broker runs do not inherit it.
    static func isChild() -> Bool {
        guard getenv(childVariable) != nil else { return false }
        unsetenv(childVariable)
        return true
    }

    enum SpawnError: Error, CustomStringConvertible {
        case failed(errno: Int32)
        var description: String {
            switch self {
            case .failed(let code): "cannot start the broker in the background: \(String(cString: strerror(code)))"
            }
        }
    }

    /// Starts this program again, detached as described above; returns the new process's id.
    static func spawnDetached() throws(SpawnError) -> pid_t {
        #if os(Linux)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // <spawn.h>'s POSIX_SPAWN_SETSID (glibc 2.26), which Swift's Glibc module does not export.
        let setSessionID: Int32 = 0x80
        var defaults = sigset_t(), empty = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaults)
        for number in [SIGHUP, SIGINT, SIGTERM, SIGPIPE] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(setSessionID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        let executable = executablePath() ?? CommandLine.arguments[0]
        var environment = [String]()
        var entry = environ
        while let variable = entry.pointee {
            environment.append(String(cString: variable))
            entry += 1
        }
        environment.append("\(childVariable)=1")
        let argv = CommandLine.arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw .failed(errno: result) }
        return pid
        #else
        throw .failed(errno: ENOSYS)
        #endif
    }

    /// The running program's file, as the kernel knows it (`/proc/self/exe`), whatever directory it was started
    /// from.
    private static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
