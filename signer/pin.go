package signer

import (
	"fmt"
	"os"
	"strings"
)

// ReadPIN returns the PIN from the file at path or from the environment
// variable env (exactly one is set). Errors name the source, never the PIN.
func ReadPIN(path, env string, lookupEnv func(string) (string, bool)) (string, error) {
	switch {
	case path != "" && env != "":
		return "", fmt.Errorf("PIN: both a file and an environment variable are configured")
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("PIN: reading %s: %w", path, err)
		}
		pin := strings.TrimRight(string(b), "\r\n")
		if pin == "" {
			return "", fmt.Errorf("PIN: %s is empty", path)
		}
		return pin, nil
	case env != "":
		pin, ok := lookupEnv(env)
		if !ok || pin == "" {
			return "", fmt.Errorf("PIN: environment variable %s is not set", env)
		}
		return pin, nil
	}
	return "", fmt.Errorf("PIN: no source configured")
}
