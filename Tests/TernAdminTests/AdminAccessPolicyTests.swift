import Foundation
import NIOPosix
import Testing
import TernServer

@testable import TernAdmin

@Suite struct AdminAccessPolicyTests {
    private func settings(_ address: String?, _ configure: (inout BrokerConfiguration.HTTPSettings) -> Void = { _ in })
        -> BrokerConfiguration.HTTPSettings
    {
        var settings = BrokerConfiguration.HTTPSettings(port: 8080, address: address)
        configure(&settings)
        return settings
    }

    private func basic(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    @Test func loopbackWithoutPasswordFileOrCredentialsIsOpen() async throws {
        for address in ["127.0.0.1", "::1", "localhost", "127.0.0.2"] {
            let policy = try AdminAccessPolicy(settings: settings(address), passwordFile: nil)
            #expect(policy.isOpen)
            #expect(await policy.role(authorization: nil, threadPool: .singleton) == .admin)
        }
    }

    @Test(arguments: [nil, "0.0.0.0", "192.0.2.1", "::"])
    func anyOtherListenerWithoutCredentialsRefusesToStart(address: String?) {
        #expect(throws: AdminAccessPolicy.Refusal.self) {
            try AdminAccessPolicy(settings: self.settings(address), passwordFile: nil)
        }
    }

    @Test func aPasswordFileOnLoopbackClosesTheOpenDoor() {
        #expect(throws: AdminAccessPolicy.Refusal.self) {
            try AdminAccessPolicy(settings: self.settings("127.0.0.1") { $0.passwordFile = "/etc/passwd-file" },
                                  passwordFile: nil)
        }
    }

    @Test func usersAndTokensGetTheirRoles() async throws {
        let hash = PasswordFile.hash(password: "secret", iterations: 1)
        let file = try PasswordFile(contents: Array("alice:\(hash)\nolga:\(hash)\nmallory:\(hash)\n".utf8),
                                    path: "passwd")
        let policy = try AdminAccessPolicy(settings: settings("0.0.0.0") {
            $0.adminUsers = ["alice"]
            $0.readOnlyUsers = ["olga"]
            $0.adminToken = "admin-token"
            $0.readOnlyToken = "read-token"
        }, passwordFile: file)
        let pool = NIOThreadPool.singleton
        #expect(await policy.role(authorization: basic("alice", "secret"), threadPool: pool) == .admin)
        #expect(await policy.role(authorization: basic("alice", "secret"), threadPool: pool) == .admin)  // cached
        #expect(await policy.role(authorization: basic("olga", "secret"), threadPool: pool) == .readOnly)
        #expect(await policy.role(authorization: basic("alice", "wrong"), threadPool: pool) == nil)
        #expect(await policy.role(authorization: basic("mallory", "secret"), threadPool: pool) == nil)
        #expect(await policy.role(authorization: "Bearer admin-token", threadPool: pool) == .admin)
        #expect(await policy.role(authorization: "Bearer read-token", threadPool: pool) == .readOnly)
        #expect(await policy.role(authorization: "Bearer admin-token2", threadPool: pool) == nil)
        #expect(await policy.role(authorization: "Basic !!!", threadPool: pool) == nil)
        #expect(await policy.role(authorization: nil, threadPool: pool) == nil)
    }
}
