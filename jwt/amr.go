package jwt

// AMR values (RFC 8176) this package emits.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	AMRHardware = "hwk"
	AMRPhone    = "tel" // the flash call: a call to the user's phone number
	AMRMFA      = "mfa"
)

// methodAMR maps Kratos session authentication methods to RFC 8176 values.
// Methods without a registered RFC 8176 equivalent (oidc, saml,
// link_recovery, code_recovery, …) are left out of amr rather than invented.
var methodAMR = map[string]string{
	"password":      AMRPassword,
	"totp":          AMROTP,
	"lookup_secret": AMROTP,      // single-use recovery codes
	"code":          AMROTP,      // one-time code sent by email or SMS
	"webauthn":      AMRHardware, // proof of possession of an authenticator
	"passkey":       AMRHardware,
}

// independentFactor lists the Kratos methods that are a factor independent of
// the flash call, so that the call on top makes "mfa":
//   - password, totp, lookup_secret, webauthn, passkey: something known or
//     held that the phone line does not give;
//   - oidc, saml: a login to a separate account at the identity provider
//     (how the provider authenticated the user is not known here; an app
//     that needs more checks the methods itself).
//
// Not listed, so never "mfa" on their own: code (may be an SMS to the same
// phone the call proves), link_recovery and code_recovery (a mailbox used to
// regain access, not a login factor), and any method this list does not know.
var independentFactor = map[string]bool{
	"password":      true,
	"totp":          true,
	"lookup_secret": true,
	"webauthn":      true,
	"passkey":       true,
	"oidc":          true,
	"saml":          true,
}

// AMR builds the amr claim: the session's own methods mapped (in order,
// deduplicated, unknown ones dropped), then "tel" for the flash call, then
// "mfa" when one of the session's methods is an independent factor (see
// independentFactor).
func AMR(methods []string) []string {
	out := make([]string, 0, len(methods)+2)
	add := func(v string) {
		for _, o := range out {
			if o == v {
				return
			}
		}
		out = append(out, v)
	}
	mfa := false
	for _, m := range methods {
		if v, ok := methodAMR[m]; ok {
			add(v)
		}
		mfa = mfa || independentFactor[m]
	}
	add(AMRPhone)
	if mfa {
		add(AMRMFA)
	}
	return out
}
