package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"text/tabwriter"

	"github.com/callpass-kratos/callpass-kratos/jwt"
)

const keysUsage = `usage: callpass-kratos keys generate [--alg ES256|EdDSA|RS256] [--out file] [--activate]
       callpass-kratos keys list     [--file file]
       callpass-kratos keys activate [--file file] --kid kid
       callpass-kratos keys remove   [--file file] --kid kid

Manages the JWT key file (a JWK Set; --out and --file default to
$JWT_KEYS_FILE). Every key in it is published at /.well-known/jwks.json; the
first one signs, unless jwt.signing_kid names another: that pins the signer,
file order is then ignored, and changing it needs a restart. A running
service re-reads the key file on SIGHUP.

  generate  writes a new key: --alg, by default the algorithm of the key that
            signs in an existing file (apps pin their algorithm list; a
            new key of another one would be refused by them once it signs),
            else ES256. Into an existing file it is appended and only
            published. --activate puts it first instead, so it signs at the
            next SIGHUP before verifiers can have fetched it: only for a key
            that must stop signing at once. Without --out the new key set is
            printed. A new file gets mode 0600.
  list      shows the keys in file order, which one signs, which can sign.
  activate  moves a key already in the file to the front, so it signs after
            the next SIGHUP.
  remove    deletes a key that no longer signs from the file.
  activate and remove rewrite the file atomically and keep its mode.

Rotation without refused tokens:
  1. keys generate --out F            then SIGHUP: the new key is published
  2. wait at least 5 minutes          (JWKS Cache-Control: max-age=300)
  3. keys activate --file F --kid NEW then SIGHUP: the new key signs
  4. after the longest token lifetime (jwt.ttl, default 10m):
     keys remove --file F --kid OLD   then SIGHUP`

func runKeys(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(e.stdout, keysUsage)
		return nil
	}
	if len(args) > 0 {
		switch args[0] {
		case "generate":
			return runKeysGenerate(ctx, e, args[1:])
		case "list":
			return runKeysList(e, args[1:])
		case "activate":
			return runKeysEdit(e, "activate", args[1:])
		case "remove":
			return runKeysEdit(e, "remove", args[1:])
		}
	}
	return &usageError{msg: "expected a subcommand: generate, list, activate or remove"}
}

func runKeysGenerate(_ context.Context, e env, args []string) error {
	fs := newFlags("keys generate", keysUsage, e)
	alg := fs.String("alg", "", "algorithm: ES256, EdDSA or RS256 (default: the signing key's in an existing --out file, else ES256)")
	out := fs.String("out", lookup(e.vars, "JWT_KEYS_FILE"), "key file to create or append to (default $JWT_KEYS_FILE; empty: stdout)")
	activate := fs.Bool("activate", false, "make the new key the signer at once (first in the file), skipping the publish-first wait")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *alg == "" {
		a, err := signerAlgorithm(e, *out)
		if err != nil {
			return err
		}
		*alg = a
	}
	k, err := jwt.GenerateKey(*alg)
	if err != nil {
		return err
	}
	if *out == "" {
		tmp, err := os.MkdirTemp("", "callpass-keys")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		p := tmp + "/keys.json"
		if err := jwt.WriteKeyFile(p, k); err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(b)
		return err
	}
	if _, err := os.Stat(*out); err == nil {
		if err := jwt.AppendKey(*out, k, *activate); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "appended key %s (%s) to %s\n", k.KID(), k.Algorithm(), *out)
		if *activate {
			fmt.Fprintln(e.stdout, "it is first in the file and signs after SIGHUP (unless jwt.signing_kid is set)")
		} else {
			fmt.Fprintf(e.stdout, "it is published only, after SIGHUP. Once verifiers' caches expired (at least 5 minutes), activate it:\n"+
				"  callpass-kratos keys activate --file %s --kid %s\n", *out, k.KID())
		}
		return nil
	}
	if err := jwt.WriteKeyFile(*out, k); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote key %s (%s) to %s\n", k.KID(), k.Algorithm(), *out)
	return nil
}

// signerAlgorithm is the algorithm of the key that signs in the key file at
// path (the first one, or $JWT_SIGNING_KID's, as keys list shows), or
// jwt.AlgES256 when there is no such file yet. A file that cannot be read
// is an error: appending would fail anyway.
func signerAlgorithm(e env, path string) (string, error) {
	if path == "" {
		return jwt.AlgES256, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return jwt.AlgES256, nil
	}
	if err != nil {
		return "", fmt.Errorf("read key file: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return jwt.AlgES256, nil // created empty beforehand: no signer yet
	}
	keys, err := jwt.ParseKeys(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(keys) == 0 {
		return jwt.AlgES256, nil
	}
	signer := keys[0]
	if pinned := lookup(e.vars, "JWT_SIGNING_KID"); pinned != "" {
		for _, k := range keys {
			if k.KID() == pinned {
				signer = k
			}
		}
	}
	return signer.Algorithm(), nil
}

// keyFileFlag is --file, defaulting to $JWT_KEYS_FILE.
func keyFileFlag(e env, name string, args []string) (file, kid string, err error) {
	fs := newFlags("keys "+name, keysUsage, e)
	f := fs.String("file", lookup(e.vars, "JWT_KEYS_FILE"), "key file (default $JWT_KEYS_FILE)")
	var k *string
	if name != "list" {
		k = fs.String("kid", "", "key id (see keys list)")
	}
	if err := parseFlags(fs, args); err != nil {
		return "", "", err
	}
	switch {
	case fs.NArg() != 0:
		return "", "", &usageError{msg: "unexpected arguments: " + fmt.Sprint(fs.Args())}
	case *f == "":
		return "", "", &usageError{msg: "need --file (or $JWT_KEYS_FILE)"}
	case k != nil && *k == "":
		return "", "", &usageError{msg: "need --kid"}
	}
	if k != nil {
		kid = *k
	}
	return *f, kid, nil
}

func runKeysList(e env, args []string) error {
	file, _, err := keyFileFlag(e, "list", args)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read key file: %w", err)
	}
	keys, err := jwt.ParseKeys(data)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(keys) == 0 {
		return fmt.Errorf("%s: no keys", file)
	}
	pinned := lookup(e.vars, "JWT_SIGNING_KID")
	signer := keys[0].KID()
	if pinned != "" {
		signer = pinned
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tKID\tALG\tPRIVATE\tROLE")
	found := false
	for i, k := range keys {
		role, priv := "published", "no"
		if k.CanSign() {
			priv = "yes"
		}
		if k.KID() == signer {
			role, found = "signs", true
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", i+1, k.KID(), k.Algorithm(), priv, role)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case pinned == "":
		fmt.Fprintln(e.stdout, "the first key signs, unless jwt.signing_kid in the configuration file names another")
	case found:
		fmt.Fprintf(e.stdout, "JWT_SIGNING_KID=%s pins the signer; file order is ignored\n", pinned)
	default:
		fmt.Fprintf(e.stdout, "JWT_SIGNING_KID=%s is not in this file: the service will not load it\n", pinned)
	}
	return nil
}

func runKeysEdit(e env, name string, args []string) error {
	file, kid, err := keyFileFlag(e, name, args)
	if err != nil {
		return err
	}
	pinned := lookup(e.vars, "JWT_SIGNING_KID")
	if name == "remove" {
		if pinned == kid {
			return fmt.Errorf("kid %q is the signer pinned by JWT_SIGNING_KID; activate another key and change jwt.signing_kid first", kid)
		}
		if err := jwt.RemoveKey(file, kid); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed key %s from %s; it is unpublished after SIGHUP\n", kid, file)
		return nil
	}
	if err := jwt.ActivateKey(file, kid); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "key %s is first in %s: it signs after SIGHUP (unless jwt.signing_kid is set); "+
		"keep the old key published for the longest token lifetime (jwt.ttl)\n", kid, file)
	if pinned != "" && pinned != kid {
		fmt.Fprintf(e.stderr, "warning: JWT_SIGNING_KID=%s pins the signer, so file order is ignored: "+
			"set it to %s (or unset it) and restart the service\n", pinned, kid)
	}
	return nil
}
