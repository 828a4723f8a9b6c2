package bootstrap

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// envReader reads configuration variables and keeps every problem it meets
// instead of stopping at the first, so that an operator fixes a bad
// environment in one round. Each problem names its variable.
type envReader struct {
	getenv func(string) string
	errs   []error
}

// bad records a problem with the variable name.
func (r *envReader) bad(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// get returns the variable without surrounding space, or def when it is unset
// or blank.
func (r *envReader) get(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

// duration reads a positive duration such as 30s, or def when unset.
func (r *envReader) duration(name string, def time.Duration) time.Duration {
	raw := r.get(name, "")
	if raw == "" {
		return def
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		r.bad(name, "must be a positive duration such as 30s or 15m")
		return def
	}
	return d
}

// durationUpTo reads a duration from 0 (meaning zero, such as "no cache") to
// limit, or def when unset.
func (r *envReader) durationUpTo(name string, def, limit time.Duration, zero string) time.Duration {
	raw := r.get(name, "")
	if raw == "" {
		return def
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < 0 || d > limit {
		r.bad(name, "must be a duration from 0 (%s) to %v, such as 1s", zero, limit)
		return def
	}
	return d
}

// count reads a whole number from 0, or def when unset.
func (r *envReader) count(name string, def int) int {
	raw := r.get(name, "")
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		r.bad(name, "must be a whole number from 0 (unlimited)")
		return def
	}
	return n
}

// boolean reads true or false (or any form strconv.ParseBool accepts), or def
// when unset.
func (r *envReader) boolean(name string, def bool) bool {
	v, err := strconv.ParseBool(r.get(name, strconv.FormatBool(def)))
	if err != nil {
		r.bad(name, "must be true or false")
	}
	return v
}

// err joins every problem recorded; nil when there was none.
func (r *envReader) err() error { return errors.Join(r.errs...) }
