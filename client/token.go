package client

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ReadToken returns the API key to present: the first line of tokenFile when it is set (so a
// key mounted from a secret store is never in the environment or on a command line), else
// token. Both empty is no key.
func ReadToken(token, tokenFile string) (string, error) {
	if tokenFile == "" {
		return strings.TrimSpace(token), nil
	}
	data, err := os.ReadFile(tokenFile)
	if err != nil {
		// The *fs.PathError names the file, never its content.
		return "", fmt.Errorf("token file: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", errors.New("token file " + tokenFile + " is empty")
	}
	return line, nil
}
