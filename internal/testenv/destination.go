package testenv

// DestinationSpellings are provider texts that spell the number
// +7 900 123-45-67 (national number DestinationNational) in the ways
// CallPass's answers may: with letters between its digits, Cyrillic
// letters, the trunk prefix 8, other scripts' digits, formatted, in digit
// forms (superscript, subscript, circled, parenthesized; see ReadDigits). They are
// the texts of plugin/callpass's statusDestinationCases (a test there keeps
// the two lists equal), shared so that the challenge service's tests drive
// every one of them too.
var DestinationSpellings = []string{
	"busy 7a900a123a45a67",
	"NEW 8(900)x123x4567",
	"n7a9b0c0d1e2f3g4h5i6j7x",
	"to 900z1234567",
	"абонент 7ф900ы123ю45я67",
	"busy ７a９００b１２３c４５６７",
	"busy ٧a٩٠٠b١٢٣c٤٥٦٧",
	"7a900a123a45a67 a1b2c3d4e5f6a7b8c9d0",
	"ref#9001234567",
	"cb:+7(900)ext123-45-67",
	"n9001234567x",
	"NO ANSWER FROM +7 (900) 123-45-67",
	"busy 7:900:123:45:67",
	"busy 7,900,123,45,67",
	"busy ７９００１２３４５６７",
	"busy +7⁹⁰⁰¹²³⁴⁵⁶⁷",
	"busy ₇₉₀₀₁₂₃₄₅₆₇",
	"busy ⑦⑨⓪⓪①②③④⑤⑥⑦",
	"busy ❼➈⓿🄋❶➋③❹➄⓺⑦",
	"busy ⑺⑼00⑿⑶⑷⑸⑹⑺",
	"busy ⒎⒐🄀🄁⒈⒉⒊⒋⒌⒍⒎",
	"busy ⁺⁷ ⁽⁹⁰⁰⁾ ¹²³⁻⁴⁵⁻⁶⁷",
	"busy 7a⁹⁰⁰b①②③c⁴⁵a⑥⑦",
	"busy 7a900a⑫3a㊺a67",
}

// DestinationNational is the national number DestinationSpellings spell.
const DestinationNational = "9001234567"

// SpellingsToken is the CallPass token (plugin/callpass's testToken) of
// which a spelling quotes a piece: a client given it masks that piece.
const SpellingsToken = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
