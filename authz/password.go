package authz

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/tenantless/tenantless/storage"
)

// Argon2id parameters (RFC 9106 §4 second recommended option scaled down to
// the OWASP minimum of 19 MiB, 2 passes): about 20 ms per sign-in on a laptop.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MinPasswordLength is the shortest password tenantless accepts.
const MinPasswordLength = 8

// HashPassword returns the argon2id hash of password in PHC string format.
func HashPassword(password string) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	salt := randomBytes(argonSaltLen)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches an encoded argon2id hash.
// A malformed hash never matches.
func VerifyPassword(encoded, password string) bool {
	p, err := parseArgon2id(encoded)
	if err != nil {
		return false
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

type argonParams struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseArgon2id decodes "$argon2id$v=19$m=..,t=..,p=..$salt$key", refusing
// parameters that would make verification a denial of service.
func parseArgon2id(s string) (argonParams, error) {
	var p argonParams
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, errors.New("not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, errors.New("unsupported argon2 version")
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil || n != 3 {
		return p, errors.New("bad argon2 parameters")
	}
	if p.memory < 8 || p.memory > 256*1024 || p.time < 1 || p.time > 10 || threads < 1 || threads > 16 {
		return p, errors.New("argon2 parameters out of range")
	}
	p.threads = uint8(threads)
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return p, errors.New("bad argon2 salt")
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return p, errors.New("bad argon2 key")
	}
	return p, nil
}

func checkPassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLength {
		return fmt.Errorf("password must be at least %d characters", MinPasswordLength)
	}
	if len(pw) > 1024 {
		return errors.New("password must be at most 1024 bytes")
	}
	return nil
}

// ValidateUsername checks a username: 1 to 64 characters of letters,
// digits, '.', '_', '-' and '@'.
func ValidateUsername(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("username must be 1 to 64 characters")
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)
		if !ok {
			return fmt.Errorf("username may contain only letters, digits and . _ - @ (found %q)", r)
		}
	}
	return nil
}

// NewUser validates a username and password and returns the user record
// to store, with a fresh random ID.
func NewUser(username, password string, now time.Time) (storage.User, error) {
	if err := ValidateUsername(username); err != nil {
		return storage.User{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return storage.User{}, err
	}
	now = now.UTC().Truncate(time.Second)
	return storage.User{
		ID:           "user_" + randomToken(12),
		Username:     username,
		PasswordHash: hash,
		CreatedAt:    now,
		UpdatedAt:    now,
	}, nil
}

// GeneratePassword returns a random password that is easy to copy:
// 20 characters of base64url.
func GeneratePassword() string {
	return randomToken(15)
}
