// Package phonetest holds test helpers for packages that name numbers.
package phonetest

import "github.com/callpass-kratos/callpass-kratos/plugin/phone"

// Key is the number hash key of tests (32 bytes).
const Key = "phonetest-number-hash-key-0123456"

// Hasher returns a phone.Hasher with Key.
func Hasher() *phone.Hasher {
	h, err := phone.NewHasher([]byte(Key))
	if err != nil {
		panic(err)
	}
	return h
}
