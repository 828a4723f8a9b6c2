package bootstrap

import (
	"os"
	"path/filepath"
	"testing"
)

// Hardening item 22: the .env that .env.example promises is read in
// development; the environment wins over it, production ignores it, and a
// malformed line is an error naming it.
func TestDotEnvIsReadInDevelopmentOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	content := "# a comment\n\nHTTP_ADDR=127.0.0.1:9999\nexport SMTP_FROM=\"Dashtam <a@example.com>\"\nLOG_LEVEL='debug'\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	environ := map[string]string{"LOG_LEVEL": "warn"}
	getenv, err := DotEnv(path, func(k string) string { return environ[k] })
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"HTTP_ADDR": "127.0.0.1:9999", "SMTP_FROM": "Dashtam <a@example.com>", "LOG_LEVEL": "warn", "UNSET": ""} {
		if got := getenv(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	prod := map[string]string{"APP_ENV": "production"}
	getenv, err = DotEnv(path, func(k string) string { return prod[k] })
	if err != nil || getenv("HTTP_ADDR") != "" {
		t.Errorf("production read the .env file (HTTP_ADDR=%q, %v)", getenv("HTTP_ADDR"), err)
	}
	if getenv, err := DotEnv(filepath.Join(t.TempDir(), "missing"), func(string) string { return "" }); err != nil || getenv("X") != "" {
		t.Errorf("a missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("OK=1\nnot a pair\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := DotEnv(path, func(string) string { return "" }); err == nil {
		t.Error("a malformed line was accepted")
	}
}
