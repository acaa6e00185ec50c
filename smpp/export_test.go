package smpp

// SetFirstSeq makes every connection of a client built from c number its
// first request n (to test wrapping).
func SetFirstSeq(c *Config, n uint32) { c.firstSeq = n }
