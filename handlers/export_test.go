package handlers

// Helpers the tests read state through, kept out of the package's API.

// Len returns the number of profiles cached.
func (pc *ProfileCache) Len() int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.order.Len()
}

// Clients returns the number of clients tracked.
func (l *RateLimit) Clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
