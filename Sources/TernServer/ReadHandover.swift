import NIOConcurrencyHelpers

/// The reads of one connection handed from its event loop to the broker's and not yet handled there, so that
/// the connection stops reading while the broker's loop lags behind (see `MQTTConnectionHandler.handOver`).
final class ReadHandover: Sendable {
    /// Reads that may wait on the broker's loop before the connection stops reading.
    static let limit = 4

    private let state = NIOLockedValueBox((waiting: 0, paused: false))

    /// A read was handed over; true when the connection must stop reading (again: the read-rate pacing may
    /// have resumed it meanwhile).
    func handedOver() -> Bool {
        state.withLockedValue { state in
            state.waiting += 1
            guard state.waiting >= Self.limit else { return false }
            state.paused = true
            return true
        }
    }

    /// A read was handled on the broker's loop; true when the connection must read again.
    func handled() -> Bool {
        state.withLockedValue { state in
            state.waiting -= 1
            guard state.paused, state.waiting < Self.limit else { return false }
            state.paused = false
            return true
        }
    }
}
