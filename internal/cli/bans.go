package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/internal/liblog"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

const bansUsage = `usage: callpass-kratos bans show [--config file] <identity-id | phone number>
       callpass-kratos bans lift [--config file] <identity-id | phone number>

Reads or lifts an identity's regulation ban in the Redis store (store.type:
redis). After limits.regulation.max_failures locked challenges within
limits.regulation.find_time, an identity is banned for
limits.regulation.ban_time; <identity-id> is its Kratos identity id (a UUID).
A phone check (phone verification at registration or in settings) is banned
per number, not per account: give the number (+79001234567, 8 900 123-45-67)
to read or lift that ban; it is found by its keyed name, so challenge.code_key
must be the service's.
The configuration is read as "serve" reads it (--config, then the
environment: STORE_REDIS_URL, STORE_REDIS_MODE, STORE_REDIS_PREFIX, ...);
only store.* and limits.* are used (and challenge.code_key for a number).

  show  whether the identity is banned and until when, and how many failures
        its log holds within find_time.
  lift  deletes the ban and the failure log, atomically (one script on the
        identity's hash-tagged slot; also in cluster mode).

An instance that refused the identity remembers the ban in process and reads
it from the store again every 30 s: it lets the identity through within 30 s
of a lift, or at once after SIGHUP (kill -HUP, systemctl reload).

With store.type: memory the bans live inside the serving process: these
commands refuse; restarting the service ends its bans.

Exit status of bans show, as grep's: 0 banned, 1 not banned, 2 it could not
tell (a bad argument or configuration, the memory store, Redis unreachable).
Exit status of bans lift: 0 lifted or nothing to lift (it says which), 1 an
error (the memory store, Redis unreachable), 2 a bad argument.`

// bansTimeout bounds one bans command's Redis work.
const bansTimeout = 10 * time.Second

func runBans(ctx context.Context, e env, args []string) error {
	err := bans(ctx, e, args)
	// bans show answers by its exit status (0 banned, 1 not banned), so a
	// failure must not read as either: 2, as grep's. Usage errors are 2
	// already; --help is no failure.
	var ue *usageError
	var xe *exitError
	if len(args) > 0 && args[0] == "show" && err != nil &&
		!errors.As(err, &ue) && !errors.As(err, &xe) && !errors.Is(err, flag.ErrHelp) {
		return &exitError{code: 2, err: err}
	}
	return err
}

func bans(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(e.stdout, bansUsage)
		return nil
	}
	if len(args) == 0 || (args[0] != "show" && args[0] != "lift") {
		return &usageError{msg: "expected a subcommand: show or lift"}
	}
	name := args[0]
	fs := newFlags("bans "+name, bansUsage, e)
	path := fs.String("config", "", "configuration file (YAML)")
	// The id may come before --config.
	pos, err := parseFlagsAround(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{msg: "expected exactly one identity id or phone number"}
	}
	id, err := identityID(pos[0])
	var num phone.Number
	sections := []string{"store.", "limits."}
	if err != nil {
		if n, perr := phone.Parse(pos[0]); perr == nil {
			num, err = n, nil
			sections = append(sections, "challenge.")
		} else {
			return err
		}
	}
	cfg, _, err := config.LoadSections(*path, e.vars, false, sections...)
	if err != nil {
		return reportConfigError(e, err)
	}
	// who names the ban in the output: a number only masked.
	who := "identity " + id
	if id == "" {
		numbers, err := phone.NewHasher([]byte(cfg.Challenge.CodeKey))
		if err != nil {
			return fmt.Errorf("challenge.code_key: %w", err)
		}
		id, who = factor.PhoneOwner(numbers, num), "number "+num.Masked()
	}
	if cfg.Store.Type != "redis" {
		return fmt.Errorf("store.type is %q: the bans live inside the serving process, which this command cannot reach; "+
			"restarting the service ends them (bans show and bans lift work with store.type: redis)", cfg.Store.Type)
	}
	// go-redis prints its own line for a failed dial on the process's
	// stderr ("redis: 2026/01/02 03:04:05 pool.go:770: …") before this
	// command's error, which names the same failure: keep it quiet.
	defer liblog.Route(slog.New(slog.DiscardHandler), liblog.Period)()
	r := cfg.Store.Redis
	rdb, err := redisstore.NewClient(r.Mode, r.URL, redisstore.Sentinel{
		Master: r.SentinelMaster, Username: r.SentinelUsername, Password: r.SentinelPassword},
		redisstore.TLS{CAFile: r.TLSCAFile, CertFile: r.TLSCertFile, KeyFile: r.TLSKeyFile})
	if err != nil {
		return fmt.Errorf("store.redis.url: %w", err)
	}
	defer rdb.Close()
	st := redisstore.New(rdb, r.Prefix)
	reg := cfg.Limits.Regulation
	ctx, cancel := context.WithTimeout(ctx, bansTimeout)
	defer cancel()

	if name == "show" {
		b, err := st.RegulationBan(ctx, id, reg.FindTime)
		if err != nil {
			return fmt.Errorf("read the ban: %w", err)
		}
		if b.Banned() {
			fmt.Fprintf(e.stdout, "%s is banned until %s (%s left)\n", who, stamp(b.BannedUntil), left(b.BannedUntil))
		} else {
			fmt.Fprintf(e.stdout, "%s is not banned\n", who)
		}
		fmt.Fprintf(e.stdout, "failures within find_time (%s): %d; a ban starts at %d and lasts %s\n",
			reg.FindTime, b.Failures, reg.MaxFailures, reg.BanTime)
		if reg.MaxFailures == 0 {
			fmt.Fprintln(e.stdout, "note: limits.regulation.max_failures is 0 in this configuration: regulation is off")
		}
		if !b.Banned() {
			return &exitError{code: 1}
		}
		return nil
	}

	b, err := st.LiftRegulationBan(ctx, id, reg.FindTime)
	if err != nil {
		return fmt.Errorf("lift the ban: %w", err)
	}
	if !b.Banned() {
		fmt.Fprintf(e.stdout, "%s was not banned: no ban to lift", who)
		if b.Failures > 0 {
			fmt.Fprintf(e.stdout, "; deleted its failure log (%d failure(s) within find_time)", b.Failures)
		}
		fmt.Fprintln(e.stdout)
		return nil
	}
	fmt.Fprintf(e.stdout, "lifted the ban on %s (it ran until %s, %s left) and deleted its failure log\n",
		who, stamp(b.BannedUntil), left(b.BannedUntil))
	fmt.Fprintln(e.stdout, "instances that remembered the ban let this identity through within 30 s "+
		"(they read it again); SIGHUP on every instance (kill -HUP, systemctl reload) does it at once")
	return nil
}

// identityID returns s as a Kratos identity id: a UUID in its canonical
// form, lower case (as Kratos writes it, and so as the store's keys hold
// it). Anything else is refused: a typo would otherwise read or lift the
// (absent) ban of an identity that does not exist and report success.
func identityID(s string) (string, error) {
	id := strings.ToLower(strings.TrimSpace(s))
	ok := len(id) == 36
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			ok = c == '-'
		default:
			ok = ('0' <= c && c <= '9') || ('a' <= c && c <= 'f')
		}
	}
	if !ok {
		return "", &usageError{msg: fmt.Sprintf("%q is neither a Kratos identity id (a UUID such as 5e1b7b4a-3c2d-4e5f-8a9b-0c1d2e3f4a5b) nor a phone number", s)}
	}
	return id, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func left(t time.Time) string {
	d := time.Until(t)
	if d < time.Second {
		return "less than 1s"
	}
	return d.Round(time.Second).String()
}
