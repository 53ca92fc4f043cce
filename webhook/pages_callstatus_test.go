package webhook_test

import (
	"context"
	stdhtml "html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// callStatusFactor is pageFactor whose challenge's call has a given status.
type callStatusFactor struct {
	pageFactor
	state, callStatus string
}

func (f *callStatusFactor) StepUpGet(context.Context, factor.Creds, string) (factor.ChallengeView, error) {
	v := f.view()
	v.State, v.CallStatus = f.state, f.callStatus
	return v, nil
}

// StepUpFollow: the page reads its challenge through it.
func (f *callStatusFactor) StepUpFollow(ctx context.Context, c factor.Creds, id string) (factor.ChallengeView, error) {
	return f.StepUpGet(ctx, c, id)
}

// TestStepUpPageCallStatus: the /2fa code step asks how the call went (its
// status URL is the challenge's JSON, following the flow's current one)
// only while the call is on its way; a
// call that did not reach the phone shows "ask for a new call" with the
// button usable at once and no code field, on a reload or a link alike,
// also when the link carries an earlier wrong-code refusal.
func TestStepUpPageCallStatus(t *testing.T) {
	tests := []struct {
		name, state, callStatus, query string
		poll, field                    bool
		want                           string
	}{
		{"on its way", "pending", "pending", "", true, true, "We are calling"},
		{"after a wrong code", "pending", "pending", "&error=4090001", true, true, "Wrong code"},
		{"rang", "pending", "rang", "", false, true, "We are calling"},
		{"unknown status", "pending", "unknown", "", false, true, "We are calling"},
		{"not delivered", "pending", "not_delivered", "", false, false, "We could not reach your phone"},
		{"not delivered, old wrong code", "pending", "not_delivered", "&error=4090001", false, false, "We could not reach your phone"},
		{"expired, not delivered", "expired", "not_delivered", "", false, false, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &callStatusFactor{pageFactor: pageFactor{recorder: &recorder{}}, state: tt.state, callStatus: tt.callStatus}
			rec := pageDo(newPageServer(t, f), http.MethodGet, "/2fa?lang=en&challenge=c1"+tt.query, nil, "")
			body := rec.Body.String()
			text := stdhtml.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, ""))
			if rec.Code != http.StatusOK || !strings.Contains(text, tt.want) {
				t.Fatalf("%d, want %q:\n%s", rec.Code, tt.want, text)
			}
			// The status follows the flow's current challenge.
			if got := strings.Contains(body, `data-status-url="/v1/challenges/c1?follow=true"`); got != tt.poll {
				t.Errorf("status URL on the page: %v, want %v", got, tt.poll)
			}
			// Whatever the call did: a page of a challenge follows the flow's
			// current one (code.js, as it comes back into view).
			if !strings.Contains(body, `data-follow-status-url="/v1/challenges/c1?follow=true" data-follow-url="/2fa?lang=en&amp;challenge=" data-challenge="c1"`) {
				t.Errorf("no follow attributes on the page:\n%s", regexp.MustCompile(`<section[^>]*>`).FindString(body))
			}
			if got := strings.Contains(body, `id="cp-code"`); got != tt.field {
				t.Errorf("code field: %v, want %v", got, tt.field)
			}
			if !tt.field {
				button := regexp.MustCompile(`<button[^>]*data-cp-resend[^>]*>`).FindString(body)
				if button == "" || strings.Contains(button, "disabled") || !strings.Contains(button, "cp-btn-primary") {
					t.Errorf("new-call button %q, want it usable and primary", button)
				}
			}
		})
	}
}
