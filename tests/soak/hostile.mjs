// Run 3's bad requests: generated, by category, from a seeded random source so a run can be
// repeated exactly. Every request carries something the relay must refuse with a 4xx; where the
// body is otherwise a valid callback it has a fresh event id, so if the relay ever accepted one,
// that id would show up at a receiver.
import http from "node:http";
import { Readable } from "node:stream";
import { SCOPES, callback, eventId } from "../e2e/harness.mjs";

const KIB = 1024;
const MIB = 1024 * KIB;

/** mulberry32: a small seeded PRNG; `rng()` is in [0, 1). */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Builds `count` bad requests. `ctx` = { token, store, rng, createdAtBase }.
 * Each: { category, name, method, path, headers, body?, stream?: { size }, ids: [event ids it
 * would have produced] }.
 */
export function hostileRequests(count, ctx) {
  const cats = categories(ctx);
  const weights = cats.map((c) => c.weight);
  const total = weights.reduce((a, b) => a + b, 0);
  // Largest remainder, at least one per category.
  const alloc = weights.map((w) => Math.max(1, Math.floor((w * count) / total)));
  let left = count - alloc.reduce((a, b) => a + b, 0);
  for (let i = 0; left > 0; i = (i + 1) % alloc.length, left--) alloc[i]++;
  for (let i = alloc.length - 1; left < 0 && i >= 0; i--) {
    while (alloc[i] > 1 && left < 0) {
      alloc[i]--;
      left++;
    }
  }
  const out = [];
  cats.forEach((c, ci) => {
    for (let i = 0; i < alloc[ci]; i++) out.push({ category: c.name, ...c.make(i) });
  });
  return out;
}

function categories(ctx) {
  const { token, store, rng } = ctx;
  let n = 0;
  // A fresh valid callback (distinct created_at), as an object.
  const fresh = () => {
    const [scope, data] = SCOPES[n % SCOPES.length];
    return callback(scope, data, { store, createdAt: ctx.createdAtBase + n++ });
  };
  const auth = { "content-type": "application/json", authorization: `Bearer ${token}` };
  const post = (name, body, extra = {}) => {
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
    return { name, method: "POST", path: "/webhooks/bigcommerce", headers: { ...auth, ...extra }, body: buf, ids: [] };
  };
  const pick = (arr, i) => arr[i % arr.length];
  const rint = (lo, hi) => lo + Math.floor(rng() * (hi - lo + 1));
  const garbage = (len) => Buffer.from(Array.from({ length: len }, () => 32 + Math.floor(rng() * 95)));
  // A body that would be a valid callback but for `field` = `raw` (JSON text).
  const withField = (field, raw) => {
    const cb = fresh();
    const keys = Object.keys(cb);
    return "{" + keys.map((k) => `"${k}":${k === field ? raw : JSON.stringify(cb[k])}`).join(",") + (keys.includes(field) ? "" : `,"${field}":${raw}`) + "}";
  };
  const withoutField = (field) => {
    const cb = fresh();
    delete cb[field];
    return cb;
  };
  const nested = (depth, open = "[", close = "]") => open.repeat(depth) + close.repeat(depth);
  // Objects cost 6 bytes a level: capped so the body stays under 64 KiB (a 400, not a 413).
  const nestedObj = (depth) => '{"a":'.repeat(Math.min(depth, 10_000)) + "1" + "}".repeat(Math.min(depth, 10_000));
  // Valid JSON callback text with `bytes` spliced in as the content of `data.note` (or a key).
  const spliced = (bytes, where) => {
    const cb = fresh();
    const marker = "@@SPLICE@@";
    let text;
    if (where === "data") text = JSON.stringify({ ...cb, data: { ...cb.data, note: marker } });
    else if (where === "unknown") text = JSON.stringify({ ...cb, comment: marker });
    else if (where === "key") text = JSON.stringify({ ...cb, [marker]: 1 });
    else if (where === "hash") text = JSON.stringify({ ...cb, hash: marker });
    else text = JSON.stringify({ ...cb, scope: marker });
    const [a, b] = text.split(marker);
    return Buffer.concat([Buffer.from(a), bytes, Buffer.from(b)]);
  };

  return [
    {
      name: "truncated_json",
      weight: 40,
      make: (i) => {
        const text = JSON.stringify(fresh());
        const cut = 1 + Math.floor(rng() * (text.length - 2)); // never the full text
        return post(`cut at ${cut}/${text.length}`, text.slice(0, cut));
      },
    },
    {
      name: "invalid_json",
      weight: 50,
      make: (i) => {
        const cb = JSON.stringify(fresh());
        const fixed = [
          ["empty body", ""],
          ["whitespace", " \n\t "],
          ["null", "null"],
          ["true", "true"],
          ["number", "12345"],
          ["string", '"store/company/created"'],
          ["array", "[]"],
          ["array of callback", `[${cb}]`],
          ["trailing comma", cb.slice(0, -1) + ",}"],
          ["single quotes", cb.replaceAll('"', "'")],
          ["unquoted keys", cb.replace(/"(\w+)":/g, "$1:")],
          ["comment", "/* hi */" + cb],
          ["two objects", cb + cb],
          ["trailing garbage", cb + "garbage"],
          ["NaN", cb.replace(/"created_at":\d+/, '"created_at":NaN')],
          ["Infinity", cb.replace(/"created_at":\d+/, '"created_at":Infinity')],
          ["duplicate key", cb.slice(0, -1) + ',"scope":"store/company/deleted"}'],
          ["BOM", "\ufeff" + cb],
          ["bare word", "hello"],
          ["unterminated string", '{"scope":"store/company/created'],
          ["control char in string", cb.replace("store/", "store/\u0001")],
          ["bad escape", cb.replace("store/", "store/\\q")],
          ["leading zeros", cb.replace(/"created_at":(\d+)/, '"created_at":0$1')],
          ["hex number", cb.replace(/"created_at":\d+/, '"created_at":0x10')],
          ["form encoded", "scope=store%2Fcompany%2Fcreated&store_id=1"],
        ];
        if (i < fixed.length) return post(fixed[i][0], fixed[i][1]);
        return post(`random printable garbage #${i}`, garbage(rint(1, 2000)));
      },
    },
    {
      name: "missing_fields",
      weight: 12,
      make: (i) => {
        // Only `scope` and `data` are required: BigCommerce's schema marks nothing required and
        // its examples lack `created_at`, so a callback without the others is valid (issue 12).
        const field = pick(["scope", "data"], i);
        return post(`without ${field}`, withoutField(field));
      },
    },
    {
      name: "wrong_types",
      weight: 60,
      make: (i) => {
        const cases = [
          ["scope", "5"], ["scope", "true"], ["scope", '["store/company/created"]'], ["scope", '{"a":1}'], ["scope", '""'],
          ["scope", '"company/created"'], ["scope", '"store/"'], ["scope", '"store/company//created"'], ["scope", '"store/com pany/created"'],
          ["store_id", "true"], ["store_id", "1.5"], ["store_id", "-1"], ["store_id", "[1001]"], ["store_id", '{"id":1}'],
          ["store_id", '"10 01"'],
          ["data", '"{}"'], ["data", "[1]"], ["data", "42"], ["data", "true"], ["data", "null"], ["data", '""'],
          ["hash", "123"], ["hash", '"abc-def"'], ["hash", "[]"], ["hash", '{"h":1}'], ["hash", "false"],
          ["created_at", '"1764288000"'], ["created_at", "1.5"], ["created_at", "-1"], ["created_at", "true"], ["created_at", "[1]"],
          ["created_at", "1764288000.0"], ["created_at", '"2025-11-28T00:00:00Z"'],
          ["producer", '"abc123"'], ["producer", '"stores/"'], ["producer", '"stores/a/b"'], ["producer", "5"],
          ["producer", '"stores/abc 123"'], ["producer", '["stores/abc123"]'], ["producer", '"store/abc123"'],
        ];
        const [field, raw] = pick(cases, i);
        return post(`${field} = ${raw}`, withField(field, raw));
      },
    },
    {
      name: "huge_numbers",
      weight: 30,
      make: (i) => {
        const cases = [
          ["created_at", "1e400"], ["created_at", "99999999999999999999"], ["created_at", "253402300800"],
          ["created_at", "-9223372036854775809"], ["created_at", "18446744073709551616"], ["created_at", "1e18"],
          ["created_at", "9".repeat(5000)],
          ["store_id", "18446744073709551616"], ["store_id", "1e30"], ["store_id", "-9223372036854775808"], ["store_id", "9".repeat(5000)],
          ["data", '{"company_id":1e400}'], ["data", `{"company_id":${"9".repeat(400)}}`], ["data", '{"company_id":-1e999}'],
        ];
        const [field, raw] = pick(cases, i);
        return post(`${field} = ${raw.length > 30 ? raw.slice(0, 12) + `… (${raw.length} chars)` : raw}`, withField(field, raw));
      },
    },
    {
      name: "huge_strings",
      weight: 30,
      make: (i) => {
        const len = rint(129, 60_000);
        const cases = [
          ["scope", `"store/company/${"x".repeat(len)}"`],
          ["hash", `"${"a".repeat(len)}"`],
          ["producer", `"stores/${"b".repeat(len)}"`],
          ["store_id", `"${"1".repeat(Math.max(65, len))}"`],
          ["scope", `"store/${"a/".repeat(Math.floor(len / 2))}x"`],
          ["created_at", `"${"7".repeat(len)}"`],
        ];
        const [field, raw] = pick(cases, i);
        return post(`${field}: ${raw.length} chars`, withField(field, raw));
      },
    },
    {
      name: "deep_nesting",
      weight: 30,
      make: (i) => {
        const depth = pick([129, 200, 1_000, 5_000, 20_000, 32_000], Math.floor(i / 5));
        const cases = [
          ["data", `{"company_id":1,"x":${nested(depth)}}`],
          ["data", `{"company_id":1,"x":${nestedObj(depth)}}`],
          ["comment", nested(depth)],
          ["scope", nested(depth)],
          ["body", null],
        ];
        const [field, raw] = pick(cases, i);
        if (field === "body") return post(`whole body ${depth} deep`, nestedObj(depth));
        return post(`${field} nested ${depth} deep`, withField(field, raw));
      },
    },
    {
      name: "oversized_bodies",
      weight: 40,
      make: (i) => {
        // 64 KiB + 1 up to 10 MiB, spread over the range on a log scale.
        const steps = 20;
        const k = i % steps;
        const size = k === 0 ? 64 * KIB + 1 : k === steps - 1 ? 10 * MIB : Math.round(64 * KIB * Math.pow(160, k / (steps - 1)));
        const chunked = Math.floor(i / steps) % 2 === 1;
        const prefix = JSON.stringify(fresh()).slice(0, -1) + ',"pad":"';
        const r = post(`${size} bytes${chunked ? ", chunked (no Content-Length)" : ""}`, Buffer.alloc(0));
        r.ids = [];
        r.stream = { size, prefix, chunked };
        delete r.body;
        return r;
      },
    },
    {
      name: "invalid_utf8",
      weight: 40,
      make: (i) => {
        const seqs = [
          ["0xff", [0xff]], ["0xfe 0xff", [0xfe, 0xff]], ["overlong /", [0xc0, 0xaf]], ["overlong NUL", [0xc0, 0x80]],
          ["UTF-16 surrogate", [0xed, 0xa0, 0x80]], ["truncated 3-byte", [0xe2, 0x82]], ["stray continuation", [0x80, 0x81]],
          ["5-byte form", [0xf8, 0x88, 0x80, 0x80, 0x80]], ["above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]], ["latin-1 é", [0xe9]],
        ];
        const wheres = ["data", "unknown", "key", "hash", "scope"];
        const [label, bytes] = pick(seqs, i);
        const where = pick(wheres, Math.floor(i / seqs.length) + i);
        if (i % 8 === 7) {
          // A JSON escape for half a surrogate pair: valid syntax, not a Unicode scalar value.
          return post(`lone surrogate \\ud800 in ${where}`, spliced(Buffer.from("\\ud800"), where));
        }
        return post(`${label} in ${where}`, spliced(Buffer.from(bytes), where));
      },
    },
    {
      name: "content_types",
      weight: 30,
      // (An empty Content-Type is not here: the relay treats it as none, which it accepts.)
      make: (i) => {
        const types = [
          "text/plain", "application/xml", "text/xml", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded",
          "text/json", "application/jsonx", "application/json-seq", "application/octet-stream", "image/png", "text/html",
          "application/javascript", "garbage", "application/x-json", "json", "application/json5",
          "application/" + "j".repeat(8000),
        ];
        const ct = pick(types, i);
        const r = post(`content-type: ${ct.length > 40 ? ct.slice(0, 20) + `… (${ct.length} chars)` : JSON.stringify(ct)}`, fresh());
        r.headers["content-type"] = ct;
        return withIds(r);
      },
    },
    {
      name: "tokens",
      weight: 50,
      make: (i) => {
        const b64 = (len) => Buffer.from(garbage(len)).toString("base64").slice(0, len);
        const cases = [
          ["no Authorization", null],
          ["empty Authorization", ""],
          ["Bearer without token", "Bearer"],
          ["Bearer and a space", "Bearer "],
          ["wrong token", "Bearer wrong"],
          ["token prefix", `Bearer ${token.slice(0, -1)}`],
          ["token with suffix", `Bearer ${token}x`],
          ["token in upper case", `Bearer ${token.toUpperCase()}`],
          ["Basic scheme with the token", `Basic ${Buffer.from(`${token}:`).toString("base64")}`],
          ["Token scheme", `Token ${token}`],
          ["token without scheme", token],
          ["two tokens joined", `Bearer ${token},${token}`],
          ["10 KB garbage token", `Bearer ${b64(10_000)}`],
          ["random garbage token", () => `Bearer ${b64(rint(1, 200))}`],
          ["token in X-Auth-Token only", null, { "x-auth-token": token }],
          ["token in the query string", null, {}, `?token=${token}`],
          ["latin-1 bytes in token", `Bearer ${token}\u00e9`],
          ["bearer token twice in one header", `Bearer ${token} Bearer ${token}`],
        ];
        const [name, value, extra = {}, query = ""] = pick(cases, i);
        const r = post(name, fresh(), extra);
        r.path += query;
        const v = typeof value === "function" ? value() : value;
        if (v === null) delete r.headers.authorization;
        else r.headers.authorization = v;
        return withIds(r);
      },
    },
    {
      name: "methods_paths",
      weight: 50,
      make: (i) => {
        const cases = [
          ["GET", "/webhooks/bigcommerce"], ["HEAD", "/webhooks/bigcommerce"], ["PUT", "/webhooks/bigcommerce"],
          ["PATCH", "/webhooks/bigcommerce"], ["DELETE", "/webhooks/bigcommerce"], ["OPTIONS", "/webhooks/bigcommerce"],
          ["PROPFIND", "/webhooks/bigcommerce"], ["FOO", "/webhooks/bigcommerce"], ["TRACE", "/webhooks/bigcommerce"], ["POST", "/"], ["POST", "/webhooks"],
          ["POST", "/webhooks/"], ["POST", "/webhooks/bigcommerce/"], ["POST", "/webhooks/bigcommerce/extra"],
          ["POST", "/WEBHOOKS/BIGCOMMERCE"], ["POST", "/webhooks/bigcommerce%2F"], ["POST", "/webhooks//bigcommerce"],
          ["POST", "/health"], ["POST", "/webhooks/bigcommerce.json"], ["POST", "/%00"], ["POST", "/webhooks/big%20commerce"],
          ["POST", "/" + "a".repeat(8000)], ["DELETE", "/health"], ["PUT", "/health"], ["GET", "/webhooks"],
        ];
        const [method, path] = pick(cases, i);
        const r = post(`${method} ${path.length > 40 ? path.slice(0, 12) + `… (${path.length} chars)` : path}`, fresh());
        r.method = method;
        r.path = path;
        if (method === "GET" || method === "HEAD" || method === "TRACE") {
          delete r.body;
          r.ids = [];
          return r;
        }
        return withIds(r);
      },
    },
    {
      name: "many_headers",
      weight: 20,
      make: (i) => {
        const many = pick([200, 500], Math.floor(i / 3));
        const junk = Object.fromEntries(Array.from({ length: many }, (_, k) => [`x-junk-${k}`, `v${k}-${garbage(16).toString("hex")}`]));
        const flaws = [
          ["no token", (r) => delete r.headers.authorization],
          ["invalid JSON", (r) => (r.body = Buffer.from("{not json"))],
          [`the token header repeated ${many} times`, (r) => (r.headers.authorization = Array(many).fill(`Bearer ${token}`))],
        ];
        const [flaw, apply] = pick(flaws, i);
        const r = post(`${many} headers and ${flaw}`, fresh(), junk);
        apply(r);
        return withIds(r);
      },
    },
    {
      name: "huge_headers",
      weight: 20,
      make: (i) => {
        const cases = [
          ["one 32 KB header", () => ({ "x-junk": "j".repeat(32 * KIB) })],
          ["one 64 KB header", () => ({ "x-junk": "j".repeat(64 * KIB) })],
          ["one 128 KB header", () => ({ "x-junk": "j".repeat(128 * KIB) })],
          ["twenty 8 KB headers", () => Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`x-junk-${k}`, "j".repeat(8 * KIB)]))],
          ["a 32 KB token", () => ({ authorization: `Bearer ${"t".repeat(32 * KIB)}` })],
        ];
        const [name, make] = pick(cases, i);
        // Without a valid token, so the relay must refuse it whether or not the headers get through.
        const r = post(`${name}, no valid token`, fresh(), make());
        if (!name.includes("token")) delete r.headers.authorization;
        return withIds(r);
      },
    },
  ];
}

/** For requests whose body is a valid callback, remembers the id it would have produced. */
function withIds(r) {
  try {
    const cb = JSON.parse(r.body.toString("utf8"));
    if (cb && typeof cb === "object" && typeof cb.producer === "string") r.ids = [eventId(cb)];
  } catch {}
  return r;
}

/**
 * Sends one request with node:http (a fresh connection, any method, header or body), and
 * resolves with { status, body } or { error } once the answer is known. An answer that comes
 * while a large body is still being written counts (a 413 before the body is read).
 */
export function sendRaw(baseUrl, spec, { timeoutMs = 60_000 } = {}) {
  const u = new URL(baseUrl);
  return new Promise((resolve) => {
    let done = false;
    let req;
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
      req?.destroy();
    };
    const timer = setTimeout(() => finish({ error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    try {
      req = http.request({ host: u.hostname, port: u.port, method: spec.method, path: spec.path, agent: false });
      for (const [k, v] of Object.entries(spec.headers ?? {})) req.setHeader(k, v);
    } catch (e) {
      // Node itself refused to send it (e.g. a header value it will not put on the wire).
      finish({ error: `client refused: ${e.code ?? e.message}` });
      return;
    }
    req.on("response", (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      // The relay marks every answer `cache-control: no-store`; the runtime's own answers do not.
      const end = () => finish({ status: res.statusCode, fromRelay: res.headers["cache-control"] === "no-store", body: Buffer.concat(chunks).toString("utf8").slice(0, 500) });
      res.on("end", end);
      res.on("close", end);
      res.on("error", end);
    });
    req.on("error", (e) => finish({ error: e.code ?? e.message }));
    if (spec.stream) {
      const { size, prefix, chunked } = spec.stream;
      if (!chunked) req.setHeader("content-length", String(size));
      bodyStream(size, prefix).pipe(req).on("error", () => {});
    } else if (spec.body !== undefined) {
      req.end(spec.body);
    } else {
      req.end();
    }
  });
}

/** `size` bytes: a callback's start, then padding; generated as it is read. */
function bodyStream(size, prefix) {
  let sent = 0;
  const head = Buffer.from(prefix);
  const pad = Buffer.alloc(64 * KIB, "x");
  return new Readable({
    read() {
      if (sent >= size) return this.push(null);
      let chunk = sent === 0 ? head : pad;
      chunk = chunk.subarray(0, Math.min(chunk.length, size - sent));
      sent += chunk.length;
      this.push(chunk);
    },
  });
}
