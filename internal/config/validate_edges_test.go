package config

import (
	"strings"
	"testing"
)

// TestValidationEdges pins the boundaries of the validation rules: each row
// sits on (or next to) the edge of a check, so moving the edge by one, or
// dropping the check, makes a row fail.
func TestValidationEdges(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		yaml    string // config file content; "" loads no file
		wantKey string // "" = valid
	}{
		// webhook.secret: at least 32 bytes (not one repeated: that is
		// refused as guessable, TestWeakSecretsRefused).
		{name: "webhook secret 31 bytes", env: []string{"WEBHOOK_SECRET=" + strings.Repeat("0123456789abcdef", 2)[:31]}, wantKey: "webhook.secret"},
		{name: "webhook secret 32 bytes", env: []string{"WEBHOOK_SECRET=" + strings.Repeat("0123456789abcdef", 2)}},

		// store.redis.prefix must not be empty (an empty env var counts as
		// unset, so only the file can empty it).
		{name: "redis prefix empty in file", env: []string{"STORE_REDIS_URL=redis://127.0.0.1:6379/0"},
			yaml: "store:\n  type: redis\n  redis:\n    prefix: \"\"\n", wantKey: "store.redis.prefix"},
		{name: "redis prefix set in file", env: []string{"STORE_REDIS_URL=redis://127.0.0.1:6379/0"},
			yaml: "store:\n  type: redis\n  redis:\n    prefix: \"x:\"\n"},

		// challenge.resend_cooldowns: every cooldown positive.
		{name: "cooldown zero first", env: []string{"CHALLENGE_RESEND_COOLDOWNS=0s,30s"}, wantKey: "challenge.resend_cooldowns"},
		{name: "cooldown negative", env: []string{"CHALLENGE_RESEND_COOLDOWNS=-1s"}, wantKey: "challenge.resend_cooldowns"},
		{name: "cooldown smallest positive", env: []string{"CHALLENGE_RESEND_COOLDOWNS=1ns,30s"}},

		// challenge.max_resends: 0 or more.
		{name: "max resends -1", env: []string{"CHALLENGE_MAX_RESENDS=-1"}, wantKey: "challenge.max_resends"},
		{name: "max resends 0", env: []string{"CHALLENGE_MAX_RESENDS=0"}},

		// limits.regulation.{find,ban}_time: positive.
		{name: "ban time 0", env: []string{"LIMITS_REGULATION_BAN_TIME=0s"}, wantKey: "limits.regulation.ban_time"},
		{name: "ban time negative", env: []string{"LIMITS_REGULATION_BAN_TIME=-1s"}, wantKey: "limits.regulation.ban_time"},
		{name: "find time 0", env: []string{"LIMITS_REGULATION_FIND_TIME=0s"}, wantKey: "limits.regulation.find_time"},
		// ... and at least a second (Redis keeps them in whole milliseconds:
		// a 500µs ban would be 0 there, which Redis refuses mid-script).
		{name: "ban time 500us", env: []string{"LIMITS_REGULATION_BAN_TIME=500us"}, wantKey: "limits.regulation.ban_time"},
		{name: "ban time 999ms", env: []string{"LIMITS_REGULATION_BAN_TIME=999ms"}, wantKey: "limits.regulation.ban_time"},
		{name: "ban time 1s", env: []string{"LIMITS_REGULATION_BAN_TIME=1s"}},
		{name: "find time 999ms", env: []string{"LIMITS_REGULATION_FIND_TIME=999ms"}, wantKey: "limits.regulation.find_time"},
		{name: "find time 1s", env: []string{"LIMITS_REGULATION_FIND_TIME=1s"}},

		// limits.*.window: at least a second.
		{name: "window 999ms", env: []string{"LIMITS_PER_IP_WINDOW=999ms"}, wantKey: "limits.per_ip.window"},
		{name: "window 1s", env: []string{"LIMITS_PER_NUMBER_WINDOW=1s"}},

		// jwt.issuer and jwt.audience: apps compare them exactly, so no
		// space or line break around them (an env file's "\r").
		{name: "issuer with a trailing space", env: []string{"JWT_ISSUER=https://2fa.example.com "}, wantKey: "jwt.issuer"},
		{name: "issuer with a carriage return", env: []string{"JWT_ISSUER=https://2fa.example.com\r"}, wantKey: "jwt.issuer"},
		{name: "issuer with a leading tab", env: []string{"JWT_ISSUER=\thttps://2fa.example.com"}, wantKey: "jwt.issuer"},
		{name: "issuer with a trailing slash", env: []string{"JWT_ISSUER=https://2fa.example.com/"}},
		{name: "audience with a space", yaml: "jwt:\n  audience: [\"app \"]\n", wantKey: "jwt.audience"},
		{name: "audience", yaml: "jwt:\n  audience: [\"app\"]\n"},

		// serve.shutdown_timeout: positive.
		{name: "shutdown timeout 0", env: []string{"SERVE_SHUTDOWN_TIMEOUT=0s"}, wantKey: "serve.shutdown_timeout"},
		{name: "shutdown timeout negative", env: []string{"SERVE_SHUTDOWN_TIMEOUT=-1s"}, wantKey: "serve.shutdown_timeout"},

		// kratos.timeout: positive.
		{name: "kratos timeout 0", env: []string{"KRATOS_TIMEOUT=0s"}, wantKey: "kratos.timeout"},
		{name: "kratos timeout negative", env: []string{"KRATOS_TIMEOUT=-1s"}, wantKey: "kratos.timeout"},

		// challenge.ttl: longer than callpass.timeout (30s by default).
		{name: "challenge ttl equals callpass timeout", env: []string{"CHALLENGE_TTL=30s"}, wantKey: "challenge.ttl"},
		{name: "challenge ttl equals explicit callpass timeout", env: []string{"CALLPASS_TIMEOUT=10s", "CHALLENGE_TTL=10s"}, wantKey: "challenge.ttl"},
		{name: "challenge ttl just longer", env: []string{"CHALLENGE_TTL=31s"}},
		{name: "challenge ttl 0", env: []string{"CHALLENGE_TTL=0s"}, wantKey: "challenge.ttl"},

		// limits.phone_check_percent: 1..100.
		{name: "phone check percent 101", env: []string{"LIMITS_PHONE_CHECK_PERCENT=101"}, wantKey: "limits.phone_check_percent"},
		{name: "phone check percent 100", env: []string{"LIMITS_PHONE_CHECK_PERCENT=100"}},
		{name: "phone check percent 1", env: []string{"LIMITS_PHONE_CHECK_PERCENT=1"}},
		{name: "phone check percent 0", env: []string{"LIMITS_PHONE_CHECK_PERCENT=0"}, wantKey: "limits.phone_check_percent"},

		// serve.listen: port 1-65535.
		{name: "listen port 0", env: []string{"SERVE_LISTEN=127.0.0.1:0"}, wantKey: "serve.listen"},
		{name: "listen port 1", env: []string{"SERVE_LISTEN=127.0.0.1:1"}},
		{name: "listen port 65535", env: []string{"SERVE_LISTEN=127.0.0.1:65535"}},
		{name: "listen port 65536", env: []string{"SERVE_LISTEN=127.0.0.1:65536"}, wantKey: "serve.listen"},

		// jwt.cookie.name: a valid cookie name when the cookie is enabled.
		{name: "cookie name invalid", env: []string{"JWT_COOKIE_ENABLED=true", "JWT_COOKIE_NAME=a b;"}, wantKey: "jwt.cookie.name"},
		{name: "cookie name valid", env: []string{"JWT_COOKIE_ENABLED=true", "JWT_COOKIE_NAME=app_jwt"}},
		{name: "cookie name invalid but cookie off", env: []string{"JWT_COOKIE_NAME=a b;"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, "c.yml", tt.yaml)
			}
			_, _, err := Load(path, baseEnv(tt.env...), false)
			oneProblem(t, err, tt.wantKey)
		})
	}
}
