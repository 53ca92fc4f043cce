// Package flashcall holds the vendor-neutral vocabulary of a flash-call
// provider: a placed call, its status classification and the error kinds a
// caller can act on. Vendor packages (plugin/callpass, and any later one)
// return these types so the challenge logic never depends on one vendor.
package flashcall

import (
	"errors"
	"strings"
)

// Class says what a provider's raw call status means for the user.
type Class int

const (
	// ClassUnknown is the zero Class: no status yet. Classify never returns
	// it; a status it does not know is ClassNotDelivered (see Classify).
	ClassUnknown Class = iota
	// ClassPending means the provider does not know the outcome yet.
	ClassPending
	// ClassRang means the phone rang, so the caller ID (the code) was delivered.
	ClassRang
	// ClassNotDelivered means the call did not reach the phone: offer a new call.
	ClassNotDelivered
)

func (c Class) String() string {
	switch c {
	case ClassPending:
		return "pending"
	case ClassRang:
		return "rang"
	case ClassNotDelivered:
		return "not_delivered"
	default:
		return "unknown"
	}
}

// Status is a provider's call status: the raw string plus its class.
//
// Callers log and store Raw. A vendor returns it as received only when
// Classify knows it (Unrecognised false); any other status text comes from
// the provider unchecked and may echo a phone number or the vendor's
// credentials, so for an Unrecognised status a vendor returns a cleaned
// form safe to log (plugin/callpass: token cut out after JSON decoding, the
// destination number and digit groups masked, bounded). Class is always
// the received string's.
type Status struct {
	Raw   string
	Class Class
	// Unrecognised says the status is none Classify knows: it was
	// classified ClassNotDelivered by rule, not by name.
	Unrecognised bool
}

// Final reports whether the status will not change any more.
func (s Status) Final() bool { return s.Class == ClassRang || s.Class == ClassNotDelivered }

// Causes after which the caller ID was shown on the phone. Telephony hang-up
// causes (Q.850 names as FreeSWITCH/Asterisk spell them).
var rangCauses = map[string]bool{
	"NORMAL_CLEARING": true, // answered
	"USER_BUSY":       true, // busy: the phone showed the call
	"NO_ANSWER":       true, // rang out: the usual flash-call outcome
	// Q.850 cause 21: the called party declined a call it could have
	// accepted, so the phone rang and showed the number.
	"CALL_REJECTED": true,
	// The caller dropped a call that was ringing: what a flash call does
	// once the number has been shown.
	"ORIGINATOR_CANCEL": true,
}

// Causes that are known and mean the call did not reach the user.
var notDeliveredCauses = map[string]bool{
	"UNALLOCATED_NUMBER":        true,
	"SUBSCRIBER_ABSENT":         true,
	"NO_ROUTE_DESTINATION":      true,
	"NO_USER_RESPONSE":          true,
	"NORMAL_TEMPORARY_FAILURE":  true,
	"NETWORK_OUT_OF_ORDER":      true,
	"DESTINATION_OUT_OF_ORDER":  true,
	"RECOVERY_ON_TIMER_EXPIRE":  true,
	"INVALID_NUMBER_FORMAT":     true,
	"NUMBER_CHANGED":            true,
	"USER_NOT_REGISTERED":       true,
	"MEDIA_TIMEOUT":             true,
	"NORMAL_CIRCUIT_CONGESTION": true,
	"SWITCH_CONGESTION":         true,
	"SERVICE_UNAVAILABLE":       true,
	"INCOMPATIBLE_DESTINATION":  true,
	"FACILITY_REJECTED":         true,
	"CHAN_NOT_IMPLEMENTED":      true,
	"BEARERCAPABILITY_NOTAVAIL": true,
}

// Classify keeps raw as it is and says what it means (a vendor cleans the
// Raw of an Unrecognised result before returning it; see Status). The
// provider's string "null" (not JSON null) and an empty status are pending;
// "success" (the CallPass document's generic answer: the method succeeded)
// is rang in a status answer or a synchronous start's answer, which both
// come once the call is over.
//
// Any other cause is never an error. The document says a status other than
// "null" is a finished call's, and asks a client to classify unknown ones as
// rang or not: they are ClassNotDelivered, so the poller stops and the user
// is offered a new call at once instead of waiting for a status that will
// not change (a code the phone did show still verifies). For the answer to
// an asynchronous start use ClassifyAsyncStart.
func Classify(raw string) Status {
	key := strings.ToUpper(strings.TrimSpace(raw))
	switch {
	case key == "" || key == "NULL":
		return Status{Raw: raw, Class: ClassPending}
	case key == "SUCCESS", rangCauses[key]:
		return Status{Raw: raw, Class: ClassRang}
	case notDeliveredCauses[key]:
		return Status{Raw: raw, Class: ClassNotDelivered}
	default:
		return Status{Raw: raw, Class: ClassNotDelivered, Unrecognised: true}
	}
}

// ClassifyAsyncStart is Classify for the answer to an asynchronous start.
// There "success" says only that the method ran ("запрашиваемый метод
// успешно выполнен": the call was placed), not that the phone rang, so it
// is pending and the call gets polled like one answered "null".
func ClassifyAsyncStart(raw string) Status {
	if strings.EqualFold(strings.TrimSpace(raw), "success") {
		return Status{Raw: raw, Class: ClassPending}
	}
	return Classify(raw)
}

// MaxCodeLen is the most digits a Call's Code may have (CallPass's are 4
// to 7). A vendor refuses an answer with a longer code as one without a
// usable code, and the challenge service bounds the input it hashes by it:
// one bound, so a call the vendor returns is one the service can record.
const MaxCodeLen = 12

// Call is one placed flash call.
type Call struct {
	// ID names the call to the vendor's CallStatus, and callers log and
	// store it, so it is safe to show: the provider's call identifier as
	// received (CallPass: a UUID string) when that is safe, otherwise a
	// masked reference to it that the same vendor client resolves to the
	// exact identifier (plugin/callpass: "<masked id>~ref-<10 letters>",
	// known to the Client that returned it).
	ID string
	// Code is what the user must type: the trailing digits of the caller
	// ID, at most MaxCodeLen of them.
	Code string
	// Status is the call status known when the start request returned
	// (pending for asynchronous starts).
	Status Status
}

// NotPlaced reports an error after which no call can have been placed:
// the request never left, or the provider answered that it refused it
// (credentials, balance, an invalid request) rather than failing in a way
// that leaves the call's fate unknown (a timeout after sending, a 5xx, a
// page that is not the API's). Vendor errors say so with a method
// NotPlaced() bool; any other error may have placed a call.
func NotPlaced(err error) bool {
	np, ok := errors.AsType[interface {
		error
		NotPlaced() bool
	}](err)
	return ok && np.NotPlaced()
}

// NotSent reports an error raised before the request left for the
// provider (a refused connection, DNS): the provider saw nothing. Vendor
// errors say so with a method NotSent() bool.
func NotSent(err error) bool {
	ns, ok := errors.AsType[interface {
		error
		NotSent() bool
	}](err)
	return ok && ns.NotSent()
}

// Error kinds. Vendor errors wrap exactly one of these so callers can use
// errors.Is without knowing the vendor.
var (
	ErrUnauthorized          = errors.New("provider refused the credentials or the source IP")
	ErrInsufficientBalance   = errors.New("provider account balance is too low for a call")
	ErrDestinationNotAllowed = errors.New("provider does not allow calls to this destination")
	ErrCallNotFound          = errors.New("provider does not know this call id")
	ErrInvalidRequest        = errors.New("invalid call request")
	ErrUnavailable           = errors.New("provider unavailable")
	ErrBadResponse           = errors.New("provider sent a response that is not valid API JSON")
	// ErrNotDelivered: the provider placed the call and answered with a
	// final status saying it did not reach the phone, and with no code
	// (a synchronous start that failed: UNALLOCATED_NUMBER, SUBSCRIBER_ABSENT).
	// A call was placed (not NotPlaced); there is nothing to verify.
	ErrNotDelivered = errors.New("the call did not reach the phone")
)
