package callpass

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	segjson "github.com/segmentio/encoding/json"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

// Envelope is a CallPass response that passed both envelope levels. Its
// messages have digit groups masked only (sanitize): nothing the client
// returns or logs quotes them, and an error that quotes one masks it for
// the token and the destination as well (see secrets).
type Envelope struct {
	// Status is the level-1 status ("success").
	Status string
	// Message is a level-1 message, if any (ignored when Data is present).
	Message string
	// Data is the level-2 object; never nil in a successful decode.
	Data *Data
}

// Data is the level-2 object. Strings are kept as received (numbers in the
// JSON are kept as their literal text).
type Data struct {
	// Result is the method result: a call status, "success", or the string
	// "null" (pending). Never "error" in a successful decode.
	Result string
	// CallID comes from "callid" / "callId" (JSON field names are matched
	// case-insensitively).
	CallID string
	// Pin is the v1 code field; Phone is the v2 code field or the v3 last 7
	// digits of the calling number. Both are parsed because the document's
	// samples use both names.
	Pin   string
	Phone string
	// pinNumber and phoneNumber report that Pin or Phone came as a JSON
	// number, whose leading zeros are lost (see callFrom).
	pinNumber, phoneNumber bool
	// Message is a level-2 message (only meaningful with result "error").
	Message string
}

// wire mirrors the JSON; RawMessage lets us accept strings, numbers and
// nulls without failing the whole decode on an unexpected type.
type wire struct {
	Status  json.RawMessage `json:"status"`
	Message json.RawMessage `json:"message"`
	Data    json.RawMessage `json:"data"`
}

type wireData struct {
	Result  json.RawMessage `json:"result"`
	CallID  json.RawMessage `json:"callid"`
	Pin     json.RawMessage `json:"pin"`
	Phone   json.RawMessage `json:"phone"`
	Message json.RawMessage `json:"message"`
}

// maxBody caps what we read from the provider; real answers are < 300 bytes.
const maxBody = 64 << 10

// DecodeResponse applies both envelope levels and the HTTP status to one
// response. It is pure (no I/O) so the client and the fuzz test share it.
// On failure it returns a *Error (Op empty, Sent true) whose Kind says what
// went wrong; on success Data is non-nil and Data.Result is not "error".
//
// The provider text an error carries has digit groups masked only: this
// function knows neither the token nor the destination. The client masks
// both as well (see decodeAnswer).
func DecodeResponse(httpStatus int, contentType string, body []byte) (*Envelope, error) {
	return decodeAnswer(httpStatus, contentType, body, secrets{})
}

// decodeAnswer is DecodeResponse with the provider text of an error also
// masked for m (see secrets.text).
func decodeAnswer(httpStatus int, contentType string, body []byte, m secrets) (*Envelope, error) {
	// segmentio's decoder: with encoding/json the answer to every placed
	// call took ~4× as long (BenchmarkDecodeResponse). The two agree on these
	// documents (case-insensitive keys, last duplicate wins, any invalid JSON
	// refused), which FuzzDecodeResponseMatchesReference and
	// TestDecodeResponseMatchesReferenceGenerated check.
	return decodeResponse(httpStatus, contentType, body, segjson.Unmarshal, m)
}

// bom is the UTF-8 byte order mark some servers put before a JSON body.
var bom = []byte("\xEF\xBB\xBF")

// decodeResponse decodes with unmarshal. Provider text is read twice: its
// sanitized form, for the kind (kindFor) and the Envelope, and only when an
// error carries it, its shown form (m.text), so the success path pays
// nothing for the masking and the kind never depends on m.
func decodeResponse(httpStatus int, contentType string, body []byte, unmarshal func([]byte, any) error, m secrets) (*Envelope, error) {
	// One BOM is an editor's or a framework's habit, not a broken answer.
	body = bytes.TrimPrefix(body, bom)
	// msg is a fixed phrase or already m's shown form of provider text.
	failAt := func(level int, kind error, msg string, withExcerpt bool) (*Envelope, error) {
		e := &Error{Kind: kind, Message: msg, HTTPStatus: httpStatus, ContentType: m.header(contentType), Sent: true, level: level}
		if withExcerpt {
			e.Excerpt = m.text(string(body), maxExcerpt, maskedRun)
		}
		return nil, e
	}
	fail := func(kind error, msg string, withExcerpt bool) (*Envelope, error) {
		return failAt(0, kind, msg, withExcerpt)
	}
	// enveloped: the body is the API's JSON object with its status field.
	enveloped := false
	// Anything we cannot read as the API's JSON object. 5xx and 429 are
	// the provider (or a proxy in front of it) being unwell; 401/403 pages
	// are typically the IP allow-list refusing us at the front proxy.
	notAPI := func(what string) (*Envelope, error) {
		switch {
		case httpStatus >= 500 || httpStatus == http.StatusTooManyRequests:
			return fail(flashcall.ErrUnavailable, what, true)
		case httpStatus == http.StatusUnauthorized || httpStatus == http.StatusForbidden:
			env, err := fail(flashcall.ErrUnauthorized, what, true)
			if e, ok := err.(*Error); ok {
				e.refusedAhead = !enveloped
			}
			return env, err
		default:
			return fail(flashcall.ErrBadResponse, what, true)
		}
	}

	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return notAPI("empty body")
	case len(body) > maxBody:
		return notAPI("body too large")
	case !utf8.Valid(body):
		return notAPI("body is not UTF-8")
	case trimmed[0] != '{':
		return notAPI("body is not a JSON object")
	}
	var w wire
	if err := unmarshal(trimmed, &w); err != nil {
		return notAPI("body is not valid JSON")
	}
	status, okStatus := jsonString(w.Status)
	if !okStatus || status == "" {
		return notAPI("JSON without a status field")
	}
	enveloped = true
	rawMessage, _ := jsonString(w.Message)
	message := sanitize(rawMessage, maxMessage)

	// Level 1.
	if !strings.EqualFold(strings.TrimSpace(status), "success") {
		if message == "" {
			// A server that keeps every text in data ("status":"error",
			// "data":{"message":"invalid token"}): the text is the answer's
			// reason, typed and quoted as a top-level one would be.
			rawMessage = dataMessage(w.Data, unmarshal)
			message = sanitize(rawMessage, maxMessage)
		}
		kind := kindFor(message, httpStatus, flashcall.ErrInvalidRequest)
		if message == "" {
			return failAt(levelRequest, kind, "status "+m.text(status, 40, maskedRun), false)
		}
		return failAt(levelRequest, kind, m.text(rawMessage, maxMessage, maskedRun), false)
	}
	// The document's own sample: {"status":"success","message":"balance is
	// lower than limit for that call"} is a refusal, not a success. A
	// level-1 message is the answer whenever data cannot be read as the
	// method's answer: absent, empty ({} or the [] a PHP back end sends for
	// an empty map), or malformed ("", false, an object without a result).
	messageAnswer := func() (*Envelope, error) {
		return failAt(levelRequest, kindFor(message, httpStatus, flashcall.ErrInvalidRequest), m.text(rawMessage, maxMessage, maskedRun), false)
	}
	if isAbsent(w.Data) || message != "" && isEmpty(w.Data) {
		if message != "" {
			return messageAnswer()
		}
		return notAPI("status success without data")
	}
	// badData is notAPI for data that is not the method's answer, unless a
	// level-1 message says what went wrong.
	badData := func(what string) (*Envelope, error) {
		if message != "" {
			return messageAnswer()
		}
		return notAPI(what)
	}
	var wd wireData
	if err := unmarshal(w.Data, &wd); err != nil {
		return badData("data is not a JSON object")
	}
	rawDMessage, _ := jsonString(wd.Message)
	dmessage := sanitize(rawDMessage, maxMessage)

	// Level 2.
	noResult := len(bytes.TrimSpace(wd.Result)) == 0
	// A call id or a code is a call, whatever message sits beside it
	// ("call queued"): refusing it would lose a call that rang and was paid for.
	carriesCall := false
	for _, f := range []json.RawMessage{wd.CallID, wd.Pin, wd.Phone} {
		if v, ok := jsonScalar(f); !ok || strings.TrimSpace(v) != "" {
			carriesCall = true
		}
	}
	if (noResult || string(bytes.TrimSpace(wd.Result)) == `""`) && message == "" && dmessage != "" && !carriesCall {
		// No result, but data says why (the balance sample's message put
		// in data): the method's failure, typed by its text. Unlike a
		// level-1 refusal, an unexplained one is not NotPlaced.
		return failAt(levelMethod, kindFor(dmessage, httpStatus, flashcall.ErrBadResponse), m.text(rawDMessage, maxMessage, maskedRun), false)
	}
	if noResult {
		return badData("data without a result field")
	}
	result, ok := jsonString(wd.Result)
	if !ok {
		// JSON null: the document insists on the string "null", but a
		// literal null means the same (status not known yet).
		if string(bytes.TrimSpace(wd.Result)) == "null" {
			result = "null"
		} else {
			return badData("data.result is not a string")
		}
	}
	if strings.EqualFold(strings.TrimSpace(result), "error") {
		msg, raw := dmessage, rawDMessage
		if msg == "" {
			msg, raw = message, rawMessage
		}
		// The request was valid (level 1 passed) but the method failed: an
		// unexplained failure is the provider's, so unavailable.
		return failAt(levelMethod, kindFor(msg, httpStatus, flashcall.ErrUnavailable), m.text(raw, maxMessage, maskedRun), false)
	}
	if httpStatus < 200 || httpStatus > 299 {
		// A success envelope with an error HTTP status contradicts itself;
		// the HTTP status is the safer signal.
		return fail(kindFor(dmessage+" "+message, httpStatus, flashcall.ErrBadResponse), "success envelope with an error HTTP status", true)
	}
	// No call (no id, no code) and no status yet, beside a message that
	// names what went wrong: the message is the answer. Another
	// implementation of the API answers the balance sample so, with
	// "data":{"result":"null"}; read as a pending call it was a start
	// without a code (bad_response), and the credentials-and-balance alert
	// never saw it. A message that names nothing ("call queued") leaves
	// the answer as it is.
	if !carriesCall && flashcall.Classify(result).Class == flashcall.ClassPending {
		text, raw, level := message, rawMessage, levelRequest
		if text == "" {
			text, raw, level = dmessage, rawDMessage, levelMethod
		}
		if kind := kindFor(text, httpStatus, nil); text != "" && kind != nil {
			return failAt(level, kind, m.text(raw, maxMessage, maskedRun), false)
		}
	}
	env := &Envelope{Status: status, Message: message, Data: &Data{Result: result, Message: dmessage}}
	var bad bool
	if env.Data.CallID, ok = jsonScalar(wd.CallID); !ok {
		bad = true
	}
	if env.Data.Pin, ok = jsonScalar(wd.Pin); !ok {
		bad = true
	}
	if env.Data.Phone, ok = jsonScalar(wd.Phone); !ok {
		bad = true
	}
	if bad {
		return badData("data field of an unexpected type")
	}
	env.Data.pinNumber = isNumber(wd.Pin)
	env.Data.phoneNumber = isNumber(wd.Phone)
	return env, nil
}

// kindFor maps a provider message (and the HTTP status) to a sentinel.
// Specific wording wins over the HTTP status because it is more precise.
// The provider is Russian: its messages may be in Russian as well as in the
// English of its samples (strings.ToLower folds Cyrillic too; stems are
// matched so every case ending counts, and "ё" is folded to "е").
func kindFor(message string, httpStatus int, fallback error) error {
	m := strings.ReplaceAll(strings.ToLower(message), "ё", "е")
	if k := kindForRussian(m, httpStatus); k != nil {
		return k
	}
	words := strings.FieldsFunc(m, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '\'')
	})
	has := func(w string) bool {
		for _, x := range words {
			if x == w {
				return true
			}
		}
		return false
	}
	// A 429 or 5xx is trouble, whatever words it carries ("request limit
	// exceeded", "authentication service unavailable"), as in Russian
	// (kindForRussian): only the call and the destination outrank it.
	trouble := httpStatus >= 500 || httpStatus == http.StatusTooManyRequests
	// How often a number may be called is throttling, not a refusal of it
	// ("not allowed more than once per minute").
	throttling := strings.Contains(m, "too many") || has("rate") || containsAny(m, enThrottled...)
	refused := containsAny(m, "not allowed", "forbidden", "denied", "prohibited", "not permitted", "blacklist")
	switch {
	case strings.Contains(m, "destination") && refused:
		return flashcall.ErrDestinationNotAllowed
	// Where the request comes from ("requests from your region are
	// forbidden"): a geo block or allow-list of our address, not the number.
	case refused && !trouble && fromPlace(words):
		return flashcall.ErrUnauthorized
	// The number itself, as in Russian: "calls to this number are not
	// allowed", "country prohibited". Not an access refusal ("access from
	// your region is forbidden", "IP not allowed") nor "number of ...".
	case refused && !trouble && !throttling &&
		(has("number") && !strings.Contains(m, "number of") || has("country") || has("region") || has("operator")) &&
		!strings.Contains(m, "access") && !has("ip"):
		return flashcall.ErrDestinationNotAllowed
	case strings.Contains(m, "callid") || strings.Contains(m, "call id") || strings.Contains(m, "call not found"):
		if strings.Contains(m, "find") || strings.Contains(m, "not found") || strings.Contains(m, "unknown") || strings.Contains(m, "no such") {
			return flashcall.ErrCallNotFound
		}
	}
	// A token the API itself says it refused is a credentials problem under
	// any status: some back ends answer every error with 500, and typed an
	// outage it was retried with the same token and hid from the
	// credentials alert. Only an unambiguous, bare refusal: not
	// "authentication service unavailable", nor "authentication failed:
	// database connection refused" (see bareRefusal).
	// Not a 429: it is throttling whatever its words, and stays counted.
	if httpStatus >= 500 && !throttling && refusedCredentials(m, has) && bareRefusal(m) {
		return flashcall.ErrUnauthorized
	}
	switch {
	case trouble:
	case strings.Contains(m, "balance") || strings.Contains(m, "insufficient") || strings.Contains(m, "funds") ||
		strings.Contains(m, "payment required") || (has("limit") && !throttling):
		return flashcall.ErrInsufficientBalance
	case strings.Contains(m, "auth") || has("token") || has("ip") || strings.Contains(m, "forbidden") ||
		strings.Contains(m, "access denied") || strings.Contains(m, "permission") || strings.Contains(m, "bearer"):
		return flashcall.ErrUnauthorized
	}
	switch {
	case httpStatus == http.StatusUnauthorized || httpStatus == http.StatusForbidden:
		return flashcall.ErrUnauthorized
	case httpStatus == http.StatusPaymentRequired:
		return flashcall.ErrInsufficientBalance
	case trouble || throttling || containsAny(m, enUnavailable...) || containsAny(m, ruUnavailable...):
		return flashcall.ErrUnavailable
	case httpStatus == http.StatusBadRequest || httpStatus == http.StatusNotFound || httpStatus == http.StatusMethodNotAllowed ||
		httpStatus == http.StatusUnprocessableEntity || httpStatus == http.StatusUnsupportedMediaType ||
		httpStatus == http.StatusLengthRequired:
		return flashcall.ErrInvalidRequest
	case strings.Contains(m, "invalid") || strings.Contains(m, "param") || strings.Contains(m, "required") || strings.Contains(m, "missing") || strings.Contains(m, "format") ||
		containsAny(m, ruInvalid...):
		return flashcall.ErrInvalidRequest
	}
	return fallback
}

// kindForRussian maps specific Russian wording (m lower-cased, "ё" folded)
// to a sentinel, or nil when it says nothing specific. Generic Russian
// words (busy, invalid) are weighed after the HTTP status, in kindFor, as
// the English ones are.
func kindForRussian(m string, httpStatus int) error {
	switch {
	case m == "":
		return nil
	// A server or rate-limit failure is that, whatever words it carries
	// (the service's own name, «Авторизация по звонку», is no auth error).
	case httpStatus >= 500 || httpStatus == http.StatusTooManyRequests ||
		containsAny(m, "слишком много", "слишком част", "более одного", "повторите через"):
		return nil
	// "Направление запрещено", "звонки на это направление не разрешены",
	// "звонки на этот номер запрещены". Not an access refusal ("доступ из
	// вашего региона запрещен", "доступ к странице запрещен").
	case containsAny(m, "доступ"):
	// "Запросы из вашего региона запрещены": where the request comes from,
	// a refusal of our address, as "from your region" in English. Numbers
	// from a country ("номера из этой страны") are the destination's.
	case containsAny(m, "из регион", "из стран", "из вашего регион", "из вашей стран", "из этого регион", "из этой стран",
		"из данного регион", "из данной стран") && containsAny(m, "запрещ", "не разреш", "не допуска") &&
		!containsAny(m, "номер из", "номера из", "номеров из", "номерам из", "номеру из", "абонент"):
		return flashcall.ErrUnauthorized
	case containsAny(m, "направлени") && containsAny(m, "запрещ", "не разреш", "не допуска", "недопуст", "закрыт", "недоступ", "не доступ", "не поддерж"),
		containsAny(m, "номер", "страна", "страну", "страны", "стране", "регион", "оператор") && containsAny(m, "запрещ", "не разреш", "не допуска"):
		return flashcall.ErrDestinationNotAllowed
	}
	switch {
	// "Звонок не найден", "вызов не найден", "идентификатор вызова не
	// найден", "неизвестный идентификатор звонка".
	case containsAny(m, "звонок не найден", "вызов не найден", "звонок не существ", "вызов не существ"),
		containsAny(m, "идентификатор", "callid", "call id") && containsAny(m, "не найден", "ненайден", "не существ", "неизвестн", "неверн"):
		return flashcall.ErrCallNotFound
	// "Недостаточно средств на балансе", "пополните счет".
	case containsAny(m, "недостаточно средств", "баланс", "средств", "пополн", "оплат"):
		return flashcall.ErrInsufficientBalance
	// "Доступ запрещен", "неверный токен", "ошибка авторизации".
	case containsAny(m, "ошибка авторизации", "не авториз", "авторизация не", "аутентиф", "токен", "доступ запрещ", "доступ закрыт",
		"нет доступа", "в доступе отказ", "ip-адрес", "ip адрес", "адрес ip"):
		return flashcall.ErrUnauthorized
	}
	return nil
}

// refusedCredentials reports text (m lower-cased, has its word test) that
// says the token was refused ("invalid token", "unauthorized", "неверный
// токен") and nothing of an outage.
func refusedCredentials(m string, has func(string) bool) bool {
	if containsAny(m, enUnavailable...) || containsAny(m, ruUnavailable...) ||
		containsAny(m, "timeout", "timed out", "gateway", "upstream", "service", "server", "сервис", "сервер") {
		return false
	}
	if containsAny(m, "неверный токен", "недействительный токен", "токен недейств", "токен невер", "ошибка авторизации",
		"ошибка аутентификации", "не авторизован") {
		return true
	}
	if has("unauthorized") || has("unauthorised") || has("unauthenticated") ||
		containsAny(m, "not authorized", "not authorised", "authentication failed", "authorization failed") {
		return true
	}
	credential := has("token") || has("bearer") || strings.Contains(m, "api key") || has("credentials")
	return credential && (has("invalid") || has("wrong") || has("bad") || has("incorrect") || has("expired") ||
		has("unknown") || has("revoked") || strings.Contains(m, "not valid"))
}

// refusalWords are the words a bare refusal of the token is made of.
var refusalWords = map[string]bool{
	"invalid": true, "wrong": true, "bad": true, "incorrect": true, "expired": true, "unknown": true, "revoked": true,
	"token": true, "bearer": true, "api": true, "key": true, "credential": true, "credentials": true,
	"unauthorized": true, "unauthorised": true, "unauthenticated": true, "not": true, "authorized": true,
	"authorised": true, "authentication": true, "authorization": true, "authorisation": true, "failed": true,
	"valid": true, "is": true, "has": true, "been": true, "the": true, "your": true, "a": true, "an": true,
	"or": true, "and": true, "provided": true, "access": true, "error": true, "http": true,
	"неверный": true, "неверен": true, "недействительный": true, "недействителен": true, "токен": true,
	"токена": true, "ошибка": true, "авторизации": true, "аутентификации": true, "не": true, "авторизован": true,
	"авторизованы": true, "ключ": true, "доступа": true, "или": true, "истек": true, "срок": true, "действия": true,
}

// bareRefusal reports a message (m lower-cased) made only of the words of
// a refusal of the token (and numbers: "401 Unauthorized"). Under a 5xx,
// any other word says what failed on the server ("authentication failed:
// database connection refused"), which the status already said: an outage,
// however open-ended its wording.
func bareRefusal(m string) bool {
	for _, w := range strings.FieldsFunc(m, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if !refusalWords[w] && strings.Trim(w, "0123456789") != "" {
			return false
		}
	}
	return true
}

// fromPlace reports a place the request comes from among words: "from"
// followed, after at most two determiners, by a region or country ("from
// your region", "from this country"). Numbers from a country are the
// destination's ("calls to numbers from this country are not allowed").
func fromPlace(words []string) bool {
	for i, w := range words {
		if w != "from" || i > 0 && slices.Contains([]string{"number", "numbers", "phone", "phones", "subscriber", "subscribers"}, words[i-1]) {
			continue
		}
	next:
		for j := i + 1; j < len(words) && j <= i+3; j++ {
			switch words[j] {
			case "your", "this", "that", "the", "a", "an", "our", "these", "those", "such":
			case "region", "regions", "country", "countries", "location", "territory":
				return true
			default:
				break next
			}
		}
	}
	return false
}

// English wording of a limit on how often a number is called, as the
// Russian "более одного", "слишком часто".
var enThrottled = []string{"more than one", "more than once", "too often", "too frequent", "per minute", "per hour", "try again in"}

// Generic English wording of an outage, weighed as the Russian below:
// "service temporarily unavailable", "internal server error", "try again
// later". Not a bare "try again": it closes refusals of the request too
// ("callId is required, please try again"), as "попробуйте позже" does not.
var enUnavailable = []string{"unavailable", "temporar", "internal", "again later", "try later", "overload", "maintenance"}

// Generic Russian wording, weighed after the HTTP status: "слишком много
// запросов", "сервис временно недоступен", "внутренняя ошибка"; "неверный
// параметр dn", "параметр timeout обязателен".
var (
	ruUnavailable = []string{"слишком много", "слишком част", "более одного", "повторите через", "временно", "недоступен", "внутренн", "попробуйте позже", "повторите позже"}
	ruInvalid     = []string{"неверн", "некоррект", "недопустим", "обязател", "параметр", "отсутству", "не указан", "формат"}
)

// containsAny reports whether s contains any of subs.
func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// dataMessage returns data.message when data is an object carrying it as a
// string, else "".
func dataMessage(data json.RawMessage, unmarshal func([]byte, any) error) string {
	t := bytes.TrimSpace(data)
	if len(t) == 0 || t[0] != '{' {
		return ""
	}
	var wd wireData
	if unmarshal(t, &wd) != nil {
		return ""
	}
	s, _ := jsonString(wd.Message)
	return s
}

func isAbsent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// isEmpty reports whether raw is an empty JSON object or array.
func isEmpty(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	if len(t) < 2 || !(t[0] == '{' && t[len(t)-1] == '}' || t[0] == '[' && t[len(t)-1] == ']') {
		return false
	}
	return len(bytes.TrimSpace(t[1:len(t)-1])) == 0
}

// jsonString returns the string value of raw; ok is false when raw is
// absent or not a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '"' {
		return "", false
	}
	if plainString(t) {
		return string(t[1 : len(t)-1]), true
	}
	var s string
	if err := json.Unmarshal(t, &s); err != nil {
		return "", false
	}
	return s, true
}

// plainString reports whether t is a JSON string literal of printable
// ASCII without escapes, whose value is the bytes between the quotes (what
// results and call ids are; anything else takes encoding/json's path).
func plainString(t []byte) bool {
	if len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"' {
		return false
	}
	for _, c := range t[1 : len(t)-1] {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

// isNumber reports a JSON number (what jsonScalar keeps as its literal
// text, not a string or null).
func isNumber(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] >= '0' && t[0] <= '9'
}

// jsonScalar accepts an absent/null field (""), a string, or a JSON
// integer kept as its literal text; ok is false for other types.
func jsonScalar(raw json.RawMessage) (string, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return "", true
	}
	if t[0] == '"' {
		return jsonString(t)
	}
	for _, c := range t {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return string(t), true
}
