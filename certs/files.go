package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// File modes of what LoadOrCreate writes. The key is the installation's
// power to impersonate every HTTPS site to every client that trusts the CA,
// so only its owner may read it; the certificate is public by design; the
// directory is private so that nobody else can swap files in it.
const (
	keyMode  fs.FileMode = 0o600
	certMode fs.FileMode = 0o644
	dirMode  fs.FileMode = 0o700
)

// KeyPermissionError is returned by Load when the CA key file can be read or
// written by users other than its owner. consentproxy refuses such a key,
// the way ssh refuses an unprotected identity file, instead of warning:
// a warning scrolls by, and until it is acted on anyone on the machine could
// copy the key and intercept the user's TLS traffic. Fixing it is one chmod.
// (Not checked on Windows, where Go's mode bits do not reflect ACLs.)
type KeyPermissionError struct {
	Path string
	Mode fs.FileMode
}

func (e *KeyPermissionError) Error() string {
	return fmt.Sprintf("ca key %s is accessible to other users (mode %04o): anyone who can read it can intercept TLS for every client trusting this CA; run: chmod 600 %s",
		e.Path, e.Mode.Perm(), e.Path)
}

// checkKeyPerm rejects a key file whose mode lets group or others in.
func checkKeyPerm(path string, fi fs.FileInfo) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return &KeyPermissionError{Path: path, Mode: fi.Mode()}
	}
	return nil
}

// ensureDir creates dir (and missing parents) private to the user. An
// existing directory keeps its mode: it may be the user's own choice, and
// the key's 0600 already protects the secret.
func ensureDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("create ca directory: %w", err)
	}
	// MkdirAll's mode is filtered by the umask; say exactly what we mean.
	if err := os.Chmod(dir, dirMode); err != nil {
		return fmt.Errorf("create ca directory: %w", err)
	}
	return nil
}

// writeTemp writes data to a new temporary file next to final (same
// directory, so that publishing it is a rename or link within one file
// system), flushed to disk, with the given mode. The caller publishes or
// removes it.
func writeTemp(final string, data []byte, mode fs.FileMode) (string, error) {
	// CreateTemp opens with 0600, so a key is never readable by others,
	// not even for the moment before the Chmod below.
	f, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", err
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	// Without Sync a crash after the rename could leave a published file
	// with no content on file systems that reorder metadata and data.
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// publish moves the finished temporary file tmp to dst, failing with an
// fs.ErrExist error if dst already exists. A hard link is atomic and
// exclusive, so two processes creating a CA at the same moment cannot end
// up with one's key next to the other's certificate: the loser sees
// ErrExist and loads the winner's CA. On a file system without hard links
// it falls back to a rename after an existence check (a narrow race, but
// still never a half-written file).
func publish(tmp, dst string) error {
	err := os.Link(tmp, dst)
	if err == nil {
		os.Remove(tmp)
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(dst); serr == nil {
		return &fs.PathError{Op: "create", Path: dst, Err: fs.ErrExist}
	}
	return os.Rename(tmp, dst)
}

// syncDir flushes a directory entry change (a new link or rename) to disk.
// Best effort: not every platform can open a directory for syncing, and the
// files themselves are already durable.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
