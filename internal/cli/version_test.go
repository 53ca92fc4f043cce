package cli

import (
	"runtime/debug"
	"testing"
)

// TestVersionOf: a build without -X .../cli.Version says what Go recorded
// of the repository, so an operator can match it to the upgrade notes.
func TestVersionOf(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "e2b1259c6a1bb5d1603f71388ce215edf587812f"}}
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"module version stamped", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261127043000-e2b1259c6a1b+dirty"}, Settings: rev},
			"v0.0.0-20261127043000-e2b1259c6a1b+dirty"},
		{"commit only", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev}, "dev (commit e2b1259c6a1b)"},
		{"commit, modified", debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: append(rev[:2:2], debug.BuildSetting{Key: "vcs.modified", Value: "true"})}, "dev (commit e2b1259c6a1b, modified)"},
		{"nothing recorded", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionOf(&tt.bi); got != tt.want {
				t.Errorf("versionOf = %q, want %q", got, tt.want)
			}
		})
	}
}
