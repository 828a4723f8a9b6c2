package persistence

// SessionCacheOn reports whether s's session cache is answering.
func SessionCacheOn(s *IdentityStore) bool { return s.cache.on.Load() }

// SessionListenerName is the listener connection's application_name.
const SessionListenerName = listenerName
