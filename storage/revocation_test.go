package storage

import "testing"

func TestCheckReason(t *testing.T) {
	for reason := -1; reason <= 11; reason++ {
		valid := reason >= 0 && reason <= 10 && reason != 7
		if err := CheckReason(reason); (err == nil) != valid {
			t.Errorf("CheckReason(%d) = %v, want valid: %v", reason, err, valid)
		}
	}
}
