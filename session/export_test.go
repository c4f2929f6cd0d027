package session

// CacheLen is how many copies a Cache holds, for the memory test.
func CacheLen(s Store) int {
	c := s.(*Cache)
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries) + len(c.older)
}
