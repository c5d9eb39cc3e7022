package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether every tool and input a test needs must be
// present: GOHV_REQUIRE=1 (set by `make test`) or CI=true.
func Required() bool {
	return os.Getenv("GOHV_REQUIRE") == "1" || os.Getenv("CI") == "true"
}

// Missing ends the test for something it needs that is not there: it
// fails (Fatalf) when Required, and skips otherwise. The message says what
// is missing and how to get it.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if Required() {
		tb.Fatalf("required (GOHV_REQUIRE=1 or CI=true): "+format, args...)
	}
	tb.Skipf(format, args...)
}

// NeedTool returns the path of each tool found in $PATH, in order, and
// calls Missing for the first one that is not.
func NeedTool(tb testing.TB, tools ...string) []string {
	tb.Helper()
	paths := make([]string, 0, len(tools))
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			Missing(tb, "%s not installed (`make deps` installs it)", tool)
			return nil
		}
		paths = append(paths, p)
	}
	return paths
}

// NeedEnv returns the value of the environment variable name, calling
// Missing when it is empty; how says what sets it.
func NeedEnv(tb testing.TB, name, how string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		Missing(tb, "%s is not set (%s)", name, how)
	}
	return v
}

// ReadEnvFile returns the contents of the file the environment variable
// name names (NeedEnv's rule when it is unset); a file that cannot be read
// fails the test.
func ReadEnvFile(tb testing.TB, name, how string) []byte {
	tb.Helper()
	b, err := os.ReadFile(NeedEnv(tb, name, how))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
