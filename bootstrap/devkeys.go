package bootstrap

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const devKeysFileName = "dev-keys.json"

// devKeys is the file a development instance keeps its generated keys in, so that
// sessions and encrypted tokens survive a restart.
type devKeys struct {
	JWTSigningKey      string `json:"jwt_signing_key"`
	TokenEncryptionKey string `json:"token_encryption_key"`
}

// ensureDevKeys fills in the keys the environment did not set, from DATA_DIR's
// development key file, generating that file (mode 0600) the first time. It
// reports whether it generated the file. Production never calls it.
func ensureDevKeys(c *Config) (generated bool, err error) {
	if len(c.JWTSigningKeys) > 0 && len(c.TokenEncryptionKeys) > 0 {
		return false, nil
	}
	path := filepath.Join(c.DataDir, devKeysFileName)
	var keys devKeys
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		keys = devKeys{JWTSigningKey: randomKey(), TokenEncryptionKey: randomKey()}
		if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
			return false, fmt.Errorf("create DATA_DIR: %w", err)
		}
		out, _ := json.MarshalIndent(keys, "", "  ")
		if err := os.WriteFile(path, out, 0o600); err != nil {
			return false, fmt.Errorf("write development keys: %w", err)
		}
		generated = true
	case err != nil:
		return false, fmt.Errorf("read development keys: %w", err)
	default:
		if err := json.Unmarshal(raw, &keys); err != nil {
			return false, fmt.Errorf("development key file %s is corrupt (delete it to generate new keys): %w", path, err)
		}
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s in %s: %s", name, path, fmt.Sprintf(format, args...)))
	}
	if len(c.JWTSigningKeys) == 0 {
		c.JWTSigningKeys = parseKeyring("jwt_signing_key", "dev:"+keys.JWTSigningKey, 32, 0, bad)
	}
	if len(c.TokenEncryptionKeys) == 0 {
		c.TokenEncryptionKeys = parseKeyring("token_encryption_key", "dev:"+keys.TokenEncryptionKey, 32, 32, bad)
	}
	c.DevKeysFile = path
	return generated, errors.Join(errs...)
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
