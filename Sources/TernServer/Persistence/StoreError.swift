/// Why the broker's store cannot be used. The broker refuses to start rather than start empty.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// The data directory or the database file cannot be created or written.
        case unwritable
        /// The file is not a Tern store, or is damaged.
        case corrupt
        /// The store was written by a newer Tern whose schema this one does not know.
        case newerVersion
        /// A record cannot be decoded.
        case invalidRecord
        /// The disk is full.
        case full
        case other
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
