extension SubscriptionIndex {
    /// The members of a share group whose filter matched a topic: the subscriptions, one per subscriber, among
    /// which the caller picks the one that gets the message.
    ///
    /// A view of the index's storage, not a copy. Iteration and positional access are O(1) per member.
    public struct ShareGroupMembers: RandomAccessCollection, Sendable {
        @usableFromInline let storage: SubscriberEntries<Subscriber>

        @usableFromInline
        init(_ storage: SubscriberEntries<Subscriber>) {
            self.storage = storage
        }

        public var startIndex: Int { 0 }
        public var endIndex: Int { storage.count }
        public var count: Int { storage.count }

        public subscript(position: Int) -> Entry {
            precondition(position >= 0 && position < storage.count, "index out of range")
            return storage.entry(atOffset: position)
        }

        public func makeIterator() -> Iterator {
            Iterator(base: storage.makeIterator())
        }

        /// Iterates the members in storage order.
        public struct Iterator: IteratorProtocol {
            var base: SubscriberEntries<Subscriber>.Iterator

            public mutating func next() -> Entry? { base.next() }
        }
    }
}
