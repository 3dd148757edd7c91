package client

// LastAdminBroker is the broker an Admin's next call goes to first: the
// last that answered.
func LastAdminBroker(a *Admin) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// SetLastAdminBroker makes addr the broker an Admin's next call goes to
// first.
func SetLastAdminBroker(a *Admin, addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = addr
}
