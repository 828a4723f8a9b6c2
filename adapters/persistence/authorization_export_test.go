package persistence

// SetReencryptBatch makes ReencryptAll read n rows at a time, so a test can walk
// several batches with a handful of rows.
func SetReencryptBatch(s *AuthorizationStore, n int) { s.reencryptBatch = n }
