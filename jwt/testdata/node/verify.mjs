// Verifies JWTs read from stdin (one per line) against a JWKS URL with the
// jose library, pinning issuer, audience and algorithms. Prints one JSON line
// per token: {"ok":true,"payload":{…},"alg":…} or {"ok":false,"error":…}.
import { createRemoteJWKSet, jwtVerify } from "jose";
import { createInterface } from "node:readline";

const [jwksURL, issuer, audience, algs] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksURL));
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const token = line.trim();
  if (!token) continue;
  try {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer, audience, algorithms: algs.split(","), clockTolerance: 30, // as README.md
    });
    console.log(JSON.stringify({ ok: true, payload, alg: protectedHeader.alg, kid: protectedHeader.kid }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, error: e.code || String(e) }));
  }
}
