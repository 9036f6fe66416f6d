#if canImport(Glibc)
import Glibc
#endif

/// The process's limit on open files, which bounds how many clients the broker can hold: each connection is a
/// file descriptor.
///
/// Shells and service managers start processes with a soft limit of 1,024 under a hard limit that is often
/// hundreds of times higher; the low soft limit protects programs that still use `select`, and Tern does not (NIO
/// waits with epoll). `tern serve` raises its soft limit to the hard one at start, as Go programs have done since Go
/// 1.19, so that a broker started from a shell is not cut off near a thousand clients; `tern bench` does the same
/// for its connections scenario. The hard limit, which an administrator sets on purpose (`ulimit -Hn`, systemd's
/// `LimitNOFILE`), still rules; past it a listener pauses its accepts (`AcceptPause` in TernServer).
enum OpenFileLimit {
    /// Raises the soft limit to the hard limit. Returns the soft limit before and after, or nil when it was already
    /// at the hard limit or cannot be changed here.
    static func raiseToHardLimit() -> (before: UInt64, after: UInt64)? {
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return nil }
        let before = UInt64(limit.rlim_cur)
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(resource, &limit) == 0 else { return nil }
        return (before, UInt64(limit.rlim_cur))
        #else
        return nil
        #endif
    }
}
