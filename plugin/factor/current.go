package factor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// confirmCurrent is the first step of a settings flow that changes the
// number (to num; hasNum false: removes it): the identity's current number
// (currentNumber) must be proven in this flow before the new one is called.
// Which step a code belongs to is decided by the store's state, never by
// the request: while the current number is not proven, a code is tried
// against its call. proven reports that the flow may go on to the new
// number (nothing to prove, or proven); spent, that this request's code was
// the current number's (it proved it just now). Otherwise d is the answer:
// the call to the current number, with CurrentNumber set.
func (s *Service) confirmCurrent(ctx context.Context, in GateInput, num phone.Number, hasNum bool) (d GateDecision, proven, spent bool, err error) {
	cur, ok, err := s.currentNumber(ctx, in)
	if err != nil {
		return GateDecision{}, false, false, err
	}
	if !ok || hasNum && cur.E164() == num.E164() {
		return GateDecision{}, true, false, nil // no factor to protect, or no change
	}
	// Bound as any phone check of cur in this flow: the number owns it
	// (its per-number limit and ban), the account counts the call too.
	// A proof lasts for this flow while its code would have lived
	// (provenFor), as the new number's does.
	b := challenge.Binding{Purpose: challenge.PurposeVerifyPhone, IdentityID: s.phoneOwner(cur), FlowID: in.FlowID}
	if in.Code != "" && !in.Resend {
		res, err := s.challenges.Verify(ctx, b, "", in.Code)
		switch {
		case errors.Is(err, challenge.ErrAlreadyUsed) && s.provenFor(res.Challenge, cur):
			return GateDecision{}, true, false, nil // proven earlier: the code is the new number's
		case err != nil:
			return GateDecision{}, false, false, err
		case res.Challenge.Phone != cur.E164():
			return GateDecision{}, false, false, challenge.ErrNotFound // as gatePhoneChange
		}
		s.log.InfoContext(ctx, "settings: the current number was proven, the new one is called next", "identity_id", in.IdentityID)
		return GateDecision{}, true, true, nil
	}
	if in.ClientIP == "" {
		s.warnNoClientIP(ctx, b.Purpose)
	}
	// One store step tells the steps apart: a proof of cur within its
	// code's life comes back without a call (the flow is at the new
	// number's step, and a resend is that step's); otherwise the current
	// number's call is shown, or placed (again, for a resend).
	res, err := s.challenges.Start(ctx, challenge.StartRequest{
		Purpose: b.Purpose, IdentityID: b.IdentityID, FlowID: b.FlowID,
		Phone: cur.E164(), Number: cur, ClientIP: in.ClientIP, AccountID: in.IdentityID,
		Resend: in.Resend, KeepVerified: true,
	})
	if err == nil && s.provenFor(res.Challenge, cur) {
		return GateDecision{}, true, false, nil
	}
	v, err := s.startAnswer(res, err)
	if le, ok := errors.AsType[*limit.LimitError](err); ok && le.Kind == limit.KindDestination ||
		errors.Is(err, flashcall.ErrDestinationNotAllowed) {
		// Not the number in the form: the user is told which one.
		return GateDecision{}, false, false, fmt.Errorf("%w: %w", ErrCurrentNotCallable, err)
	}
	if err != nil {
		return GateDecision{}, false, false, err
	}
	return GateDecision{Challenge: &v, CurrentNumber: true, RemovesNumber: !hasNum}, false, false, nil
}

// currentNumber is the number the login gate calls now: the stored trait,
// read through Kratos's admin API (the hook's body has the traits about to
// be saved, not the stored ones). ok false: the identity has no number the
// gate can call (none, or one that does not parse: the gate refuses every
// login then), so there is no factor to protect. A failed read fails
// closed: the save waits for Kratos. Without an Identities reader the
// number metadata_public names as proven stands for it: a change away from
// a proven number is never let through unproven, but an identity whose
// number an admin set is not protected (the service always wires one).
func (s *Service) currentNumber(ctx context.Context, in GateInput) (phone.Number, bool, error) {
	if in.IdentityID == zeroUUID {
		// Kratos sends the zero UUID only before a registration's save.
		return phone.Number{}, false, fmt.Errorf("%w: the body names no saved identity: point the registration web_hook at "+
			"/hooks/kratos/registration; only selfservice.flows.settings.after posts to /hooks/kratos/settings", ErrRegistrationAtSettings)
	}
	if s.identities == nil {
		meta, err := decodeMetadata(in.MetadataPublic)
		if err != nil {
			return phone.Number{}, false, nil // not an object: it names no number of ours
		}
		v, _ := meta[MetaVerifiedNumber].(string)
		n, err := s.phones.Parse(v)
		return n, err == nil && v != "", nil
	}
	ident, err := s.identities.Identity(ctx, in.IdentityID)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return phone.Number{}, false, err // the caller hung up
		}
		// Any refused read (Kratos down, the identity gone while its flow
		// runs, a proxy before the admin API answering 401 or 403) refuses
		// the save as an outage: not as the user's session (no_session,
		// forbidden), and with the read named for the admin.
		return phone.Number{}, false, fmt.Errorf("%w: reading the settings flow's stored number through kratos.admin_url "+
			"(webhook.settings_confirm_current): %v", kratos.ErrUnavailable, err)
	}
	raw, err := json.Marshal(ident.Traits)
	if err != nil {
		return phone.Number{}, false, fmt.Errorf("%w: stored traits: %v", kratos.ErrUnexpected, err)
	}
	return s.storedNumber(raw)
}

// storedNumber is phoneFromTraits for a stored number: one that does not
// parse is no number.
func (s *Service) storedNumber(traits json.RawMessage) (phone.Number, bool, error) {
	n, ok, err := s.phoneFromTraits(traits)
	if err != nil {
		return phone.Number{}, false, nil
	}
	return n, ok, nil
}
