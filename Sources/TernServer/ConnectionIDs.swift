import NIOConcurrencyHelpers
import TernBroker

/// Hands out connection identifiers on any event loop: a connection gets its identifier on its own loop, before
/// it is registered on the broker's.
final class ConnectionIDs: Sendable {
    private let last = NIOLockedValueBox<UInt64>(0)

    func next() -> ConnectionID {
        ConnectionID(last.withLockedValue { value in
            value += 1
            return value
        })
    }
}
