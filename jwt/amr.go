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

// AMR builds the amr claim: the session's own methods mapped (in order,
// deduplicated, unknown ones dropped), then "tel" for the flash call, then
// "mfa" when the session already had at least one method (known or not), since
// the flash call is then a second factor.
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
	for _, m := range methods {
		if v, ok := methodAMR[m]; ok {
			add(v)
		}
	}
	add(AMRPhone)
	if len(methods) > 0 {
		add(AMRMFA)
	}
	return out
}
