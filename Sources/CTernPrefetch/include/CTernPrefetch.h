#ifndef C_TERN_PREFETCH_H
#define C_TERN_PREFETCH_H

/// Asks the processor to bring the cache line holding `address` into its caches, without waiting for it and
/// without faulting on an invalid address: Swift has no way to say this.
static inline void tern_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
