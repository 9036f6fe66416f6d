// The target's one function is inline, in include/CTernPrefetch.h; a C target needs a source file.
#include "CTernPrefetch.h"
