package config

import (
	"os"
	"testing"
)

// The annotated example in the repository is a valid configuration.
func TestExampleConfigLoads(t *testing.T) {
	f, err := os.Open("../gateway.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Parse(f, nil); err != nil {
		t.Fatal(err)
	}
}
