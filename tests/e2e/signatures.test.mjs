// BigCommerce's own callback signatures (Standard Webhooks, key = base64 of the app's client
// secret) against the real worker in wrangler dev, in each INGEST_AUTH mode. Callbacks are
// signed by the npm `standardwebhooks` package exactly as BigCommerce's Node sample builds its
// verifier: `new Webhook(Buffer.from(clientSecret).toString("base64"))`.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Webhook } from "standardwebhooks";
import { Receiver, Relay, callback, eventId, waitFor } from "./harness.mjs";

const TOKEN = "ingest-token-sig-e2e-4b1d";
const SECRET = "bc-client-secret-e2e-7f3a9c01";
const OLD_SECRET = "bc-client-secret-e2e-old-22d5";
const WRONG_SECRET = "someone-elses-client-secret";

const rx = new Receiver("sig");
const relays = {};

// One relay per mode; `any` also holds an old secret (rotation). Every relay forwards all
// events to the receiver at its own path.
const MODES = {
  any: { INGEST_TOKENS: TOKEN, BC_CLIENT_SECRETS: `${OLD_SECRET},${SECRET}` },
  token: { INGEST_AUTH: "token", INGEST_TOKENS: TOKEN, BC_CLIENT_SECRETS: SECRET },
  signature: { INGEST_AUTH: "signature", BC_CLIENT_SECRETS: SECRET },
  all: { INGEST_AUTH: "all", INGEST_TOKENS: TOKEN, BC_CLIENT_SECRETS: SECRET },
};

before(async () => {
  await rx.start();
  for (const [mode, env] of Object.entries(MODES)) {
    const targets = [{ name: mode, url: `${rx.url}/${mode}` }];
    // Serves build/ as `make build` left it (make e2e builds first).
    relays[mode] = await new Relay({ ...env, TARGETS: JSON.stringify(targets) }, { build: false }).start();
  }
});

after(async () => {
  for (const r of Object.values(relays)) await r?.stop();
  await rx.stop();
});

/** The three Standard Webhooks headers BigCommerce sends, signed with `secret`. */
function signed(body, { secret = SECRET, id = `msg_${randomUUID()}`, at = new Date() } = {}) {
  const wh = new Webhook(Buffer.from(secret).toString("base64"));
  return { "webhook-id": id, "webhook-timestamp": String(Math.floor(at.getTime() / 1000)), "webhook-signature": wh.sign(id, at, body) };
}

const fresh = () => JSON.stringify(callback("store/company/created", { company_id: 4242 }));
const send = (mode, body, { headers = {}, token = null } = {}) => relays[mode].post(body, { headers, token });
const at = (mode) => (id) => rx.requests.filter((q) => q.url === `/hook/${mode}` && q.headers["webhook-id"] === id);

function refused(res, code) {
  assert.equal(res.status, 401, res.text);
  assert.equal(res.json.error.code, code, res.text);
}

describe("a signed callback is accepted in each mode that takes a signature", () => {
  for (const mode of Object.keys(MODES)) {
    test(`INGEST_AUTH=${MODES[mode].INGEST_AUTH ?? "any (default)"}`, async () => {
      const body = fresh();
      const headers = signed(body);
      // What a receiver running BigCommerce's sample would do with the same request.
      new Webhook(Buffer.from(SECRET).toString("base64")).verify(body, headers);
      const needsToken = mode === "token" || mode === "all";
      const res = await send(mode, body, { headers, token: needsToken ? TOKEN : null });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.status, "accepted");
      assert.equal(res.json.id, eventId(JSON.parse(body)), "the event id does not depend on the signature");
      const [req] = await waitFor(() => at(mode)(res.json.id).length && at(mode)(res.json.id), { what: `${mode} delivery` });
      const ev = JSON.parse(req.body);
      assert.equal(ev.bcwebhookid, headers["webhook-id"], "bcwebhookid is the verified webhook-id");
      assert.equal(ev.id, res.json.id);
      const line = relays[mode].ingested(res.json.id)[0];
      assert.equal(line.auth, needsToken ? "both" : "signature");
    });
  }

  test("what each mode refuses", async () => {
    const body = fresh();
    // token: a signature alone is not a proof there.
    refused(await send("token", body, { headers: signed(body) }), "unauthorized");
    // signature: a token alone is not one.
    refused(await send("signature", fresh(), { token: TOKEN }), "unauthorized");
    // all: both are needed.
    const b2 = fresh();
    refused(await send("all", b2, { headers: signed(b2) }), "unauthorized");
    refused(await send("all", fresh(), { token: TOKEN }), "unauthorized");
    // any: either is enough, neither is not.
    const b3 = fresh();
    assert.equal((await send("any", b3, { headers: signed(b3) })).json.status, "accepted");
    const tokenOnly = await send("any", fresh(), { token: TOKEN });
    assert.equal(tokenOnly.json.status, "accepted");
    refused(await send("any", fresh()), "unauthorized");
    // A token-only callback carries no bcwebhookid.
    const [req] = await waitFor(() => at("any")(tokenOnly.json.id).length && at("any")(tokenOnly.json.id));
    assert.equal(JSON.parse(req.body).bcwebhookid, undefined);
  });
});

describe("bad signatures are refused, whatever the token says, and nothing is delivered", () => {
  const cases = [
    ["a tampered body", (b) => ({ body: b.replace("4242", "4243"), headers: signed(b) }), "invalid_signature"],
    ["a wrong client secret", (b) => ({ body: b, headers: signed(b, { secret: WRONG_SECRET }) }), "invalid_signature"],
    ["a timestamp 301 s old", (b) => ({ body: b, headers: signed(b, { at: new Date(Date.now() - 301_000) }) }), "stale_signature"],
    // 302, not 301: the header holds whole seconds and the relay reads its clock a moment after
    // the test, sometimes in the next second, where 301 s ahead would be 300 (allowed).
    ["a timestamp 302 s in the future", (b) => ({ body: b, headers: signed(b, { at: new Date(Date.now() + 302_000) }) }), "stale_signature"],
    ["no webhook-timestamp", (b) => {
      const h = signed(b);
      delete h["webhook-timestamp"];
      return { body: b, headers: h };
    }, "invalid_signature"],
    ["no webhook-id", (b) => {
      const h = signed(b);
      delete h["webhook-id"];
      return { body: b, headers: h };
    }, "invalid_signature"],
    ["a timestamp that is not unix seconds", (b) => ({ body: b, headers: { ...signed(b), "webhook-timestamp": "yesterday" } }), "invalid_signature"],
    ["only unknown signature versions", (b) => {
      const h = signed(b);
      return { body: b, headers: { ...h, "webhook-signature": h["webhook-signature"].replace(/^v1,/, "v2,") } };
    }, "invalid_signature"],
    ["a malformed signature", (b) => ({ body: b, headers: { ...signed(b), "webhook-signature": "v1" } }), "invalid_signature"],
  ];
  for (const [what, make, code] of cases) {
    test(`${what} → 401 ${code}, also with a right token`, async () => {
      for (const token of [null, TOKEN]) {
        const { body, headers } = make(fresh());
        const res = await send("any", body, { headers, token });
        refused(res, code);
        assert.ok(!res.text.includes(SECRET) && !res.text.includes(TOKEN), res.text);
        if (code === "stale_signature") assert.match(res.json.error.message, /more than the 300 s allowed/);
      }
    });
  }

  test("webhook-id and webhook-timestamp without a signature: a token still carries it, nothing else does", async () => {
    const body = fresh();
    const { "webhook-id": id, "webhook-timestamp": ts } = signed(body);
    refused(await send("any", body, { headers: { "webhook-id": id, "webhook-timestamp": ts } }), "invalid_signature");
    const res = await send("any", body, { headers: { "webhook-id": id, "webhook-timestamp": ts }, token: TOKEN });
    assert.equal(res.json.status, "accepted", res.text);
    const [req] = await waitFor(() => at("any")(res.json.id).length && at("any")(res.json.id));
    assert.equal(JSON.parse(req.body).bcwebhookid, undefined, "an unverified webhook-id is never forwarded");
  });

  test("in token mode too, a bad signature is refused despite the right token", async () => {
    const body = fresh();
    refused(await send("token", body, { headers: signed(body, { secret: WRONG_SECRET }), token: TOKEN }), "invalid_signature");
  });

  test("none of the refused callbacks reached a target", async () => {
    await new Promise((r) => setTimeout(r, 2000));
    const accepted = new Set(Object.values(relays).flatMap((r) => r.logLines("ingest").filter((l) => l.outcome === "accepted").map((l) => l.id)));
    const stray = rx.requests.filter((q) => !accepted.has(q.headers["webhook-id"]));
    assert.deepEqual(stray.map((q) => q.url), []);
  });
});

describe("signature lists and rotation", () => {
  test("unknown versions beside a good v1 are ignored; several v1 with one good pass", async () => {
    for (const list of [(good) => `v1a,AAAA v2,BBBB= ${good}`, (good) => `v1,${Buffer.from("x".repeat(32)).toString("base64")} ${good}`]) {
      const body = fresh();
      const h = signed(body);
      const res = await send("any", body, { headers: { ...h, "webhook-signature": list(h["webhook-signature"]) } });
      assert.equal(res.json.status, "accepted", res.text);
    }
  });

  test("two client secrets (rotation): a callback signed with either is accepted", async () => {
    for (const secret of [OLD_SECRET, SECRET]) {
      const body = fresh();
      const res = await send("any", body, { headers: signed(body, { secret }) });
      assert.equal(res.json.status, "accepted", `${secret}: ${res.text}`);
    }
    // In a relay that has only the new one, the old one is a wrong secret.
    const body = fresh();
    refused(await send("signature", body, { headers: signed(body, { secret: OLD_SECRET }) }), "invalid_signature");
  });
});

describe("bcwebhookid and retries", () => {
  test("BigCommerce's retry with the same webhook-id is one event", async () => {
    const body = fresh();
    const first = signed(body, { id: "msg_same_on_retry" });
    const a = await send("signature", body, { headers: first });
    assert.equal(a.json.status, "accepted");
    // A retry a minute later: same id, a new timestamp and signature.
    const b = await send("signature", body, { headers: signed(body, { id: "msg_same_on_retry", at: new Date(Date.now() + 60_000) }) });
    assert.equal(b.json.status, "duplicate", b.text);
    assert.equal(b.json.id, a.json.id);
    await relays.signature.settled(a.json.id, ["signature"]);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(at("signature")(a.json.id).length, 1);
  });

  test("a retry of the same body with a different webhook-id is still one event (by id)", async () => {
    const body = fresh();
    const a = await send("signature", body, { headers: signed(body, { id: "msg_first_delivery" }) });
    assert.equal(a.json.status, "accepted");
    const b = await send("signature", body, { headers: signed(body, { id: "msg_other_on_retry" }) });
    assert.equal(b.json.status, "duplicate", b.text);
    assert.equal(b.json.id, a.json.id, "the event id is the body's, not the webhook-id");
    await relays.signature.settled(a.json.id, ["signature"]);
    await new Promise((r) => setTimeout(r, 1500));
    const got = at("signature")(a.json.id);
    assert.equal(got.length, 1);
    assert.equal(JSON.parse(got[0].body).bcwebhookid, "msg_first_delivery", "the accepted copy's webhook-id");
  });
});

describe("the Python standardwebhooks path (optional)", () => {
  let python = false;
  try {
    execFileSync("python3", ["-c", "import standardwebhooks"], { stdio: "ignore" });
    python = true;
  } catch {}
  test("a callback signed by Python's Webhook(base64(secret)) is accepted", { skip: !python && "python3 cannot import standardwebhooks here" }, async () => {
    const body = fresh();
    const script = `import base64,sys,datetime,json\nfrom standardwebhooks.webhooks import Webhook\nwh=Webhook(base64.b64encode(sys.argv[1].encode()).decode())\nnow=datetime.datetime.now(tz=datetime.timezone.utc)\nprint(json.dumps({"id":"msg_py","ts":str(int(now.timestamp())),"sig":wh.sign("msg_py",now,sys.argv[2])}))`;
    const out = JSON.parse(execFileSync("python3", ["-c", script, SECRET, body]).toString());
    const res = await send("signature", body, { headers: { "webhook-id": out.id, "webhook-timestamp": out.ts, "webhook-signature": out.sig } });
    assert.equal(res.json.status, "accepted", res.text);
  });
});

test("no token or client secret appears in any relay's log", () => {
  for (const [mode, r] of Object.entries(relays)) {
    for (const secret of [TOKEN, SECRET, OLD_SECRET]) assert.ok(!r.logs.includes(secret), `${mode} log contains a secret`);
  }
});
