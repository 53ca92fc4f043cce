# Runs the README's "Python (PyJWT)" sample, given as a file (argv[1]), once
# per JWT read from stdin (one per line), exactly as an app would: the sample
# gets nothing but `token` and must bind `claims`. Prints one JSON line per
# token: {"ok":true,"claims":{…}} or {"ok":false,"error":"<exception class>"}.
import json
import sys

with open(sys.argv[1], encoding="utf-8") as f:
    sample = compile(f.read(), "README.md (Python sample)", "exec")

for line in sys.stdin:
    token = line.strip()
    if not token:
        continue
    scope = {"token": token}
    try:
        exec(sample, scope)
        out = {"ok": True, "claims": scope["claims"]}
    except Exception as e:  # the sample's refusal, whatever it is
        out = {"ok": False, "error": type(e).__name__, "detail": str(e)}
    print(json.dumps(out), flush=True)
