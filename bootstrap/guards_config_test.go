package bootstrap

import (
	"slices"
	"strings"
	"testing"
)

// The guards' variables: defaults, accepted values, and errors that name the
// variable without echoing a Redis password.
func TestGuardsConfiguration(t *testing.T) {
	cfg, err := LoadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimitAuth != "5-M" || cfg.RateLimitRead != "100-M" || cfg.RateLimitWrite != "30-M" || cfg.RedisURL != "" || len(cfg.AllowedOrigins) != 0 {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = LoadConfig(env(map[string]string{
		"RATE_LIMIT_AUTH": "10-S", "RATE_LIMIT_READ": "1000-H", "RATE_LIMIT_WRITE": "3-D",
		"REDIS_URL":       "rediss://user:pw@redis.internal:6380/2",
		"ALLOWED_ORIGINS": "https://App.example.com, http://localhost:5173",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimitAuth != "10-S" || cfg.RedisURL != "rediss://user:pw@redis.internal:6380/2" ||
		!slices.Equal(cfg.AllowedOrigins, []string{"https://app.example.com", "http://localhost:5173"}) {
		t.Errorf("parsed: %+v", cfg)
	}
	for name, value := range map[string]string{
		"RATE_LIMIT_AUTH":  "0-M",
		"RATE_LIMIT_READ":  "lots",
		"RATE_LIMIT_WRITE": "30-W",
		"REDIS_URL":        "http://user:s3cret@redis:6379",
		"ALLOWED_ORIGINS":  "*",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadConfig(env(map[string]string{name: value}))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v does not name %s", err, name)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Error("error echoes the Redis password")
			}
		})
	}
}
