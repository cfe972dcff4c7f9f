// End-to-end harness: runs the real worker in `wrangler dev` (workerd, local KV and Queues)
// and real HTTP receivers on 127.0.0.1. Everything it starts, it stops.
import { spawn, execFile } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const WRANGLER = path.join(ROOT, "node_modules/.bin/wrangler");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { sleep };

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor(fn, { timeoutMs = 30_000, intervalMs = 100, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/**
 * A downstream "third party": records every request; `behave(req)` decides the answer:
 * `{ status, headers, body, delayMs }`, or `"reset"` to destroy the connection.
 */
export class Receiver {
  constructor(name, behave = () => ({ status: 200 })) {
    this.name = name;
    this.behave = behave;
    this.requests = [];
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", async () => {
        const record = {
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
          at: Date.now(),
        };
        this.requests.push(record);
        const answer = await this.behave(record, this.requests);
        if (answer === "reset") return req.socket.destroy();
        if (answer.delayMs) await sleep(answer.delayMs);
        res.writeHead(answer.status ?? 200, { "content-type": "application/json", ...(answer.headers ?? {}) });
        res.end(answer.body ?? '{"ok":true}');
      });
    });
  }
  async start() {
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${this.server.address().port}/hook`;
    return this;
  }
  stop() {
    this.server.closeAllConnections?.();
    return new Promise((r) => this.server.close(r));
  }
  byId(id) {
    return this.requests.filter((r) => r.headers["webhook-id"] === id);
  }
}

/** A response as tests use it: status, headers, text, and the parsed JSON when it is JSON. */
export async function answer(res) {
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text, headers: res.headers };
}

/**
 * wrangler dev's proxy answers this 503 itself when its kept-alive connection to the worker
 * drops under a request (workers-sdk#14641): the worker did not answer it, so it is sent again,
 * as BigCommerce would. Every other answer, the relay's own 503s included, is returned as is.
 * A callback whose connection closed with no answer at all is sent again too (`post`).
 */
const DEV_PROXY_DROP = "Your worker restarted mid-request";
let devProxyDrops = 0;
export const devProxyRetries = () => devProxyDrops;

async function throughDevProxy(send, { resendUnanswered = false } = {}) {
  for (let attempt = 1; ; attempt++) {
    let sent = null;
    try {
      sent = await send();
    } catch (e) {
      // A kept-alive connection the proxy closed as the request went out ("other side closed",
      // no answer): a callback is sent again, as BigCommerce would; the relay deduplicates it.
      if (!resendUnanswered || attempt >= 3 || e?.cause?.code !== "UND_ERR_SOCKET") throw e;
    }
    if (sent !== null) {
      const res = await answer(sent);
      if (attempt >= 3 || res.status !== 503 || !res.text.startsWith(DEV_PROXY_DROP)) return res;
    }
    devProxyDrops++;
    await sleep(200);
  }
}

/** The `[[d1_databases]]` block of a wrangler.toml text (up to the next table), if any. */
const D1_BLOCK = /^\[\[d1_databases\]\]\n(?:(?!\[).*\n)*/m;

/** A D1 database's local state with every migration applied, made once per set of migrations. */
const d1Templates = new Map();

/**
 * `wrangler d1 migrations apply --local` costs several seconds per run, so it runs once per set
 * of migrations and database id, into a directory under the system's temp dir that later runs
 * (and other test files) copy: a relay's D1 starts as `make dev` leaves it.
 */
async function d1Template(toml) {
  const block = D1_BLOCK.exec(toml)[0];
  const field = (name) => new RegExp(`^${name}\\s*=\\s*"([^"]*)"`, "m").exec(block)?.[1];
  const migrations = path.resolve(ROOT, field("migrations_dir") ?? "migrations");
  const files = fs.readdirSync(migrations).filter((f) => f.endsWith(".sql")).sort();
  const key = createHash("sha256");
  for (const f of files) key.update(f).update(fs.readFileSync(path.join(migrations, f)));
  key.update(field("database_id") ?? "").update(field("binding") ?? "");
  const dir = path.join(os.tmpdir(), `b2b-relay-d1-${key.digest("hex").slice(0, 16)}`);
  if (fs.existsSync(path.join(dir, "done"))) return dir;
  if (!d1Templates.has(dir)) {
    d1Templates.set(
      dir,
      (async () => {
        const work = fs.mkdtempSync(`${dir}.tmp-`);
        const config = path.join(work, "wrangler.toml");
        // Only what the migration needs: no [build], no other bindings.
        const d1 = block.replace(/^migrations_dir = .*\n/m, "") + `migrations_dir = ${JSON.stringify(migrations)}\n`;
        fs.writeFileSync(config, `name = "d1-template"\ncompatibility_date = "2026-04-01"\n${d1}`);
        await promisify(execFile)(
          WRANGLER,
          ["d1", "migrations", "apply", field("binding"), "--local", "--persist-to", path.join(work, "state"), "--config", config],
          { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", CI: "1" } },
        );
        fs.writeFileSync(path.join(work, "done"), "");
        try {
          fs.renameSync(work, dir);
        } catch {
          // Another test process made it meanwhile: theirs is as good.
          fs.rmSync(work, { recursive: true, force: true });
        }
        return dir;
      })(),
    );
  }
  return d1Templates.get(dir);
}

/**
 * The relay under test: `wrangler dev` with its own env file and state directory.
 * `{ build: false }` skips wrangler.toml's [build] step and serves the build/ already there
 * (from `make build` or a relay started before), so it can start while another relay runs.
 * With a D1 binding in the configuration, its migrations are applied to the relay's local
 * database before it starts; `{ history: false }` (with `build: false`) runs it without one, and
 * `{ migrate: false }` with the binding but an empty database (as before `migrations apply`).
 */
export class Relay {
  /**
   * `args`: extra `wrangler dev` arguments, e.g. `["--test-scheduled"]`. `lanes: false` (with
   * `build: false`) drops the lane queues from the configuration, as an operator may: every
   * delivery then goes through b2b-relay-deliveries. `editConfig(toml)` (with `build: false`)
   * changes the copied wrangler.toml further, e.g. a consumer setting under measurement.
   */
  constructor(env, { args = [], build = true, lanes = true, history = true, migrate = true, editConfig = (toml) => toml } = {}) {
    this.env = env;
    this.args = args;
    this.build = build;
    this.lanes = lanes;
    this.editConfig = editConfig;
    this.history = history;
    this.migrate = migrate;
    this.logs = "";
    this.configArgs = [];
  }

  /** A copy of wrangler.toml without [build], serving ROOT/build/index.js and ROOT/console/dist. */
  #writeConfigWithoutBuild() {
    let toml = fs
      .readFileSync(path.join(ROOT, "wrangler.toml"), "utf8")
      .replace(/^\[build\]\n(?:(?!\[).*\n)*/m, "")
      .replace(/^main = .*$/m, `main = ${JSON.stringify(path.join(ROOT, "build/index.js"))}`)
      .replace(/^directory = .*$/m, `directory = ${JSON.stringify(path.join(ROOT, "console/dist"))}`)
      .replace(/^migrations_dir = "(.*)"$/m, (_, d) => `migrations_dir = ${JSON.stringify(path.resolve(ROOT, d))}`);
    if (!this.history) toml = toml.replace(D1_BLOCK, "");
    // Each lane's producer and consumer table: a header, then key lines up to a blank line.
    if (!this.lanes) toml = toml.replace(/^\[\[queues\.(?:producers|consumers)\]\]\n(?:binding = "LANE_\d+"\n)?queue = "b2b-relay-lane-\d+"\n(?:.+\n)*/gm, "");
    const file = path.join(this.dir, "wrangler.toml");
    fs.writeFileSync(file, this.editConfig(toml));
    this.configArgs = ["--config", file];
  }

  /** The configuration wrangler dev reads: an explicit `--config`, or ROOT's wrangler.toml. */
  #configText() {
    const args = [...this.args, ...this.configArgs];
    const at = args.lastIndexOf("--config");
    return fs.readFileSync(at >= 0 ? args[at + 1] : path.join(ROOT, "wrangler.toml"), "utf8");
  }

  async start({ timeoutMs = 180_000 } = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "b2b-relay-e2e-"));
    this.state = path.join(this.dir, "state");
    if (!this.build) this.#writeConfigWithoutBuild();
    const toml = this.#configText();
    if (this.migrate && D1_BLOCK.test(toml)) fs.cpSync(path.join(await d1Template(toml), "state"), this.state, { recursive: true });
    const envFile = path.join(this.dir, "test.env");
    // .env values: one line each; JSON is written unquoted (dotenv keeps it as is), with `$`
    // escaped: wrangler expands `$NAME` in env files, which would eat `where` operators.
    fs.writeFileSync(envFile, Object.entries(this.env).map(([k, v]) => `${k}=${String(v).replaceAll("$", "\\$")}`).join("\n") + "\n");
    this.port = await freePort();
    const inspector = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.proc = spawn(
      WRANGLER,
      [
        "dev", "--ip", "127.0.0.1", "--port", String(this.port), "--inspector-port", String(inspector),
        "--persist-to", this.state, "--env-file", envFile, "--show-interactive-dev-session=false",
        ...this.args,
        ...this.configArgs,
      ],
      { cwd: ROOT, detached: true, env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" } },
    );
    this.proc.stdout.on("data", (d) => (this.logs += d));
    this.proc.stderr.on("data", (d) => (this.logs += d));
    this.exited = new Promise((r) => this.proc.on("exit", r));
    process.on("exit", () => this.kill());
    try {
      await waitFor(
        async () => {
          if (this.proc.exitCode !== null) throw new Error(`wrangler dev exited:\n${this.logs}`);
          try {
            const r = await fetch(`${this.url}/health`);
            return r.status === 200;
          } catch {
            return false;
          }
        },
        { timeoutMs, intervalMs: 500, what: "wrangler dev to answer /health" },
      );
    } catch (e) {
      // A relay that never came up must not outlive the test run.
      await this.stop();
      throw e;
    }
    return this;
  }

  kill() {
    try {
      process.kill(-this.proc.pid, "SIGTERM");
    } catch {}
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.kill();
    await Promise.race([this.exited, sleep(5000)]);
    try {
      process.kill(-this.proc.pid, "SIGKILL");
    } catch {}
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * POSTs a callback (object → JSON) with the first ingest token (none without INGEST_TOKENS)
   * unless told otherwise; `path` for the exceptions route.
   */
  async post(body, { token = this.env.INGEST_TOKENS?.split(",")[0] ?? null, headers = {}, method = "POST", path = "/webhooks/bigcommerce" } = {}) {
    const h = { "content-type": "application/json", ...headers };
    if (token !== null) h.authorization = `Bearer ${token}`;
    return throughDevProxy(() =>
      fetch(`${this.url}${path}`, {
        method,
        headers: h,
        body: method === "GET" || method === "HEAD" ? undefined : typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body),
      }),
      { resendUnanswered: true },
    );
  }

  /** Runs the scheduled handler once as cron `cron` would (needs `args: ["--test-scheduled"]`). */
  async scheduled(cron) {
    const res = await fetch(`${this.url}/__scheduled?cron=${cron.replaceAll(" ", "+")}`);
    return { status: res.status, text: await res.text() };
  }

  /** Any request to the relay with an optional bearer token and JSON body; parses JSON answers. */
  async call(method, path, { token = null, body } = {}) {
    const headers = token === null ? {} : { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    return throughDevProxy(() => fetch(`${this.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
  }

  /** The worker's JSON log lines with this `msg` (`ingest`, `delivery`, `deliveries`…), parsed. */
  logLines(msg) {
    const lines = [];
    for (const line of this.logs.split("\n")) {
      const at = line.indexOf('{"');
      if (at < 0) continue;
      try {
        const value = JSON.parse(line.slice(at));
        if (value.msg === msg) lines.push(value);
      } catch {}
    }
    return lines;
  }

  /** Every delivery attempt the relay has logged so far (batch lines and per-attempt lines). */
  attempts() {
    return [...this.logLines("deliveries").flatMap((b) => b.attempts), ...this.logLines("delivery")];
  }

  /**
   * Waits until the relay reports that event `id` is settled at each of `targets` (its log shows
   * a `delivered` or `dead_letter` attempt there), so a test can then assert that nothing more
   * arrived, without guessing a sleep. Returns the attempts logged for the event.
   */
  async settled(id, targets, { timeoutMs = 30_000 } = {}) {
    const final = (a) => a.id === id && (a.outcome === "delivered" || a.outcome === "dead_letter");
    await waitFor(() => targets.every((t) => this.attempts().some((a) => final(a) && a.target === t)), {
      timeoutMs,
      what: `event ${id} settled at ${targets.join(", ")}`,
    });
    return this.attempts().filter((a) => a.id === id);
  }

  /** The ingest lines the relay logged for event `id`. */
  ingested(id) {
    return this.logLines("ingest").filter((l) => l.id === id);
  }

  /** Reads local KV from another process, as an operator would with wrangler. */
  async kv(binding, ...args) {
    // Reading the local state while the worker writes it can fail transiently
    // ("KV GET failed: 500"): try a few times before failing the test.
    for (let attempt = 1; ; attempt++) {
      try {
        const { stdout } = await promisify(execFile)(
          WRANGLER,
          ["kv", "key", ...args, "--binding", binding, "--local", "--persist-to", this.state],
          { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" } },
        );
        return stdout;
      } catch (e) {
        if (attempt >= 4) throw e;
        await sleep(500 * attempt);
      }
    }
  }
  /** Runs SQL on the relay's local D1 from another process (`wrangler d1 execute`); its JSON. */
  async d1(sql, binding = "HISTORY") {
    const { stdout } = await promisify(execFile)(
      WRANGLER,
      ["d1", "execute", binding, "--local", "--persist-to", this.state, "--json", "--command", sql, ...this.#configArgsFor()],
      { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", CI: "1" } },
    );
    return JSON.parse(stdout.slice(stdout.indexOf("[")));
  }
  #configArgsFor() {
    const args = [...this.args, ...this.configArgs];
    const at = args.lastIndexOf("--config");
    return at >= 0 ? ["--config", args[at + 1]] : [];
  }
  async kvKeys(binding, prefix = "") {
    const out = await this.kv(binding, "list", ...(prefix ? ["--prefix", prefix] : []));
    return JSON.parse(out.slice(out.indexOf("["))).map((k) => k.name);
  }
  async kvGet(binding, key) {
    return this.kv(binding, "get", key);
  }
}

let seq = 0;
/** A valid callback; each call gets a distinct created_at so ids never collide. */
export function callback(scope, data, { store = "abc123", storeId = "1001", createdAt } = {}) {
  const dataText = JSON.stringify(data);
  return {
    scope,
    store_id: storeId,
    data,
    hash: createHash("sha1").update(dataText).digest("hex"),
    created_at: createdAt ?? 1_764_288_000 + process.pid * 1000 + seq++,
    producer: `stores/${store}`,
  };
}

/** The event id the relay must give a callback (independent of the Rust code). */
export function eventId(cb) {
  const store = cb.producer.slice("stores/".length);
  return createHash("sha256").update(`${store}:${cb.scope}:${cb.created_at}:${cb.hash}`).digest("hex");
}

/** The 19 B2B Edition scopes with their documented data and expected subject. */
export const SCOPES = [
  ["store/company/created", { company_id: 1234 }, "companies/1234"],
  ["store/company/updated", { company_id: 1234 }, "companies/1234"],
  ["store/company/deleted", { company_id: 1234 }, "companies/1234"],
  ["store/company/statusUpdated", { company_id: 1234 }, "companies/1234"],
  ["store/company/superadmin/assignmentUpdated", { company_id: 1234, user_id: 99 }, "companies/1234"],
  ["store/company/user/created", { company_id: 123456, user_id: 321 }, "companies/123456/users/321"],
  ["store/company/user/updated", { company_id: 123456, user_id: 321 }, "companies/123456/users/321"],
  ["store/company/user/deleted", { company_id: 123456, user_id: 321 }, "companies/123456/users/321"],
  ["store/company/address/created", { company_id: 123456, address_id: 1234 }, "companies/123456/addresses/1234"],
  ["store/company/address/updated", { company_id: 123456, address_id: 1234 }, "companies/123456/addresses/1234"],
  ["store/company/address/deleted", { company_id: 123456, address_id: 1234 }, "companies/123456/addresses/1234"],
  ["store/superadmin/created", { user_id: 1234 }, "superadmins/1234"],
  ["store/superadmin/updated", { user_id: 1234 }, "superadmins/1234"],
  ["store/superadmin/deleted", { user_id: 1234 }, "superadmins/1234"],
  ["store/superadmin/assignmentUpdated", { user_id: 1234 }, "superadmins/1234"],
  ["store/quote/created", { quote_id: 1234, quote_uuid: "1a2b3c4d" }, "quotes/1234"],
  ["store/quote/updated", { quote_id: 1234, quote_uuid: "1a2b3c4d" }, "quotes/1234"],
  ["store/quote/statusUpdated", { quote_id: 1234, quote_uuid: "1a2b3c4d" }, "quotes/1234"],
  ["store/quote/deleted", { quote_id: 1234, quote_uuid: "1a2b3c4d" }, "quotes/1234"],
];

/** The median (the mean of the middle two for an even count): bench/run.mjs and bench/v8-profile.mjs. */
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** `store/company/user/created` → `company.user.created` */
export const shortType = (scope) => scope.slice("store/".length).replaceAll("/", ".");

/** The relay's glob: `*` matches any run of characters. */
export function globMatch(pattern, text) {
  const re = new RegExp("^" + pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");
  return re.test(text);
}
