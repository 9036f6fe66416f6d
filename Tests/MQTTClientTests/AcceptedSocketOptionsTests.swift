import Foundation
import MQTTClient
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The broker sets TCP_NODELAY and SO_KEEPALIVE on its listening socket only and relies on accepted sockets
/// inheriting them (no setsockopt per connection): the sockets it accepted, found among this process's descriptors,
/// must have both on.
@Suite("Accepted socket options")
struct AcceptedSocketOptionsTests {
    /// The descriptors of this process's TCP sockets bound to `port` that have a peer (accepted, not listening).
    static func acceptedSockets(port: Int) throws -> [Int32] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap { Int32($0) }.filter { fd in
            var local = sockaddr_in()
            var peer = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard bound == 0, local.sin_family == sa_family_t(AF_INET), Int(UInt16(bigEndian: local.sin_port)) == port
            else { return false }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            return withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
            } == 0
        }
    }

    static func option(_ fd: Int32, level: Int32, name: Int32) -> Int32 {
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, level, name, &value, &length) == 0 else { return -1 }
        return value
    }

    @Test("accepted sockets have TCP_NODELAY and SO_KEEPALIVE")
    func inherited() async throws {
        let broker = try await TestBroker.tern()
        defer { broker.stopNow() }
        let client = MQTTClient(configuration: broker.configuration(clientIdentifier: "options"))
        try await client.connect()
        let accepted = try Self.acceptedSockets(port: broker.port)
        #expect(accepted.count == 1)
        for fd in accepted {
            #expect(Self.option(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY) != 0)
            #expect(Self.option(fd, level: SOL_SOCKET, name: SO_KEEPALIVE) != 0)
        }
        try await client.disconnect()
    }
}
