package webhook_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// codeFactor is pageFactor that keeps the code each verify was given.
type codeFactor struct {
	pageFactor
	codeLength int
	codes      []string
}

func (f *codeFactor) StepUpGet(context.Context, factor.Creds, string) (factor.ChallengeView, error) {
	v := f.view()
	v.CodeLength = f.codeLength
	return v, nil
}

func (f *codeFactor) StepUpVerify(ctx context.Context, c factor.Creds, id, code string, o factor.TokenOptions) (factor.VerifyOutput, error) {
	f.codes = append(f.codes, code)
	return f.pageFactor.StepUpVerify(ctx, c, id, code, o)
}

// TestStepUpPageCodeAsTyped: without JavaScript the /2fa code field takes
// what its pattern allows (the hint shows a whole caller number): digits
// with spaces, or the number itself. The service checks the code those
// keystrokes mean, as code.js would have sent it, so a correct code typed
// "46 10" or "+7 (495) 123-46-10" is not a wrong code costing an attempt.
// What the pattern does not allow is passed on as typed.
func TestStepUpPageCodeAsTyped(t *testing.T) {
	tests := []struct {
		typed      string
		codeLength int
		want       string
	}{
		{"4610", 4, "4610"},
		{" 4610 ", 4, "4610"},
		{"46 10", 4, "4610"},
		{"46\u00a010", 4, "4610"},
		{"4\u202f6\u20091-0", 4, "4610"},
		{"+7 (495) 123-46-10", 4, "4610"},
		{"8 495 123 46 10", 4, "4610"},
		{"74951234610", 4, "4610"},
		{"7.495.123.46.10", 4, "4610"},
		{"+7 495 123-46-10", 6, "234610"},
		{"46", 4, "46"}, // too short: the service says how many digits
		{"46l0", 4, "46l0"},
		{"", 4, ""},
	}
	for _, tt := range tests {
		f := &codeFactor{pageFactor: pageFactor{recorder: &recorder{}}, codeLength: tt.codeLength}
		rec := pageDo(newPageServer(t, f), http.MethodPost, "/2fa/verify?lang=en",
			url.Values{"challenge_id": {"c1"}, "code": {tt.typed}}, "https://app.example")
		if len(f.codes) != 1 || f.codes[0] != tt.want {
			t.Errorf("typed %q (code of %d): verified %q, want %q (answer %d)", tt.typed, tt.codeLength, f.codes, tt.want, rec.Code)
		}
	}
}
