package migrate

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name     string
		files    fstest.MapFS
		versions []int
		wantErr  string
	}{
		{
			name: "ordered by version, not by name",
			files: fstest.MapFS{
				"m/0002_b.sql":  file("B"),
				"m/0001_a.sql":  file("A"),
				"m/10_late.sql": file("C"),
				"m/0003_c.sql":  file("C"),
				"m/0004_d.sql":  file("D"),
				"m/0005_e.sql":  file("E"),
				"m/0006_f.sql":  file("F"),
				"m/0007_g.sql":  file("G"),
				"m/0008_h.sql":  file("H"),
				"m/0009_i.sql":  file("I"),
				"m/README.md":   file("ignored"),
			},
			versions: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		},
		{
			name:    "gap",
			files:   fstest.MapFS{"m/0001_a.sql": file("A"), "m/0003_c.sql": file("C")},
			wantErr: "want version 2",
		},
		{
			name:    "duplicate",
			files:   fstest.MapFS{"m/0001_a.sql": file("A"), "m/0001_b.sql": file("B")},
			wantErr: "want version 2",
		},
		{
			name:    "starts at zero",
			files:   fstest.MapFS{"m/0000_a.sql": file("A")},
			wantErr: "positive number",
		},
		{
			name:    "no underscore",
			files:   fstest.MapFS{"m/0001.sql": file("A")},
			wantErr: "NNNN_description.sql",
		},
		{
			name:    "not a number",
			files:   fstest.MapFS{"m/init_a.sql": file("A")},
			wantErr: "positive number",
		},
		{
			name:    "empty",
			files:   fstest.MapFS{"m/README.md": file("x")},
			wantErr: "no migrations",
		},
		{
			name:    "missing dir",
			files:   fstest.MapFS{},
			wantErr: "migrate:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := Load(tt.files, "m")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
				if m.SQL == "" {
					t.Errorf("%s: empty SQL", m.Name)
				}
			}
			if len(got) != len(tt.versions) {
				t.Fatalf("versions = %v, want %v", got, tt.versions)
			}
			for i := range got {
				if got[i] != tt.versions[i] {
					t.Fatalf("versions = %v, want %v", got, tt.versions)
				}
			}
		})
	}
}
