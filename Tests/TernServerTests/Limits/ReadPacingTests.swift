import NIOCore
import Testing
@testable import TernServer

@Suite("Read pacing: max_publish_rate and max_publish_bytes_rate")
struct ReadPacingTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test("no rate set: no pacing at all")
    func off() {
        #expect(ReadPacing(ConnectionLimits(), now: start) == nil)
    }

    @Test("one second's publications go at once, then the connection waits for the bucket to refill")
    func publishRate() throws {
        var pacing = try #require(ReadPacing(ConnectionLimits(publishRate: 10), now: start))
        for _ in 0..<10 {
            #expect(pacing.pause(now: start) == nil)
            pacing.spend(bytes: 20, isPublish: true)
        }
        let wait = pacing.pause(now: start) ?? .zero
        #expect(wait > .milliseconds(99) && wait <= .milliseconds(101))
        // Other packets do not count against the publication rate.
        #expect(pacing.pause(now: start + .milliseconds(100)) == nil)
        pacing.spend(bytes: 2, isPublish: false)
        #expect(pacing.pause(now: start + .milliseconds(100)) == nil)
    }

    @Test("a packet larger than the byte allowance waits until its deficit is refilled")
    func bytesRate() throws {
        var pacing = try #require(ReadPacing(ConnectionLimits(bytesRate: 1000), now: start))
        pacing.spend(bytes: 3000, isPublish: true)
        let wait = pacing.pause(now: start) ?? .zero
        #expect(wait > .milliseconds(2000) && wait <= .milliseconds(2002))
        #expect(pacing.pause(now: start + .milliseconds(2002)) == nil)
    }
}
