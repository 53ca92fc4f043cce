package memory_test

import (
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
)

func TestClaimPassCandidates(t *testing.T) {
	t.Parallel()
	storetest.RunClaimCandidates(t, newStore(t))
}
