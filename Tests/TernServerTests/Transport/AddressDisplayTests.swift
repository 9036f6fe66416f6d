import NIOCore
import Testing
@testable import TernServer

/// Connection addresses as logs and the admin API show them; IPv4 is formatted by hand (`MQTTServer.display`).
@Suite struct AddressDisplayTests {
    @Test(arguments: [
        ("127.0.0.1", 1883, "127.0.0.1:1883"),
        ("0.0.0.0", 0, "0.0.0.0:0"),
        ("255.255.255.255", 65_535, "255.255.255.255:65535"),
        ("10.200.3.4", 50_123, "10.200.3.4:50123"),
        ("1.20.100.9", 10, "1.20.100.9:10"),  // every number of digits
        ("192.168.0.99", 9_999, "192.168.0.99:9999"),
        ("8.80.199.100", 100, "8.80.199.100:100"),
        ("::1", 8883, "[::1]:8883"),
        ("fe80::1:2", 1, "[fe80::1:2]:1"),
    ])
    func display(host: String, port: Int, shown: String) throws {
        let address = try SocketAddress(ipAddress: host, port: port)
        #expect(MQTTServer.display(address) == shown)
        if case .v4 = address {
            #expect(MQTTServer.display(address) == "\(address.ipAddress!):\(port)")  // as inet_ntop has it
        }
    }
}
