package smpp

// SetFirstSeq makes every connection of a client built from c number its
// first request n (to test wrapping).
func SetFirstSeq(c *Config, n uint32) { c.firstSeq = n }

// OnLaneEnter calls f each time a Submit has taken its place in its
// destination's lane. Set it before the first Submit.
func OnLaneEnter(c *Client, f func(dest string)) { c.lanes.onEnter = f }
