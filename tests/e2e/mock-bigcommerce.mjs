// A mock of BigCommerce's store webhooks API, following ../shared/bigcommerce/webhooks.v3.yml:
// GET/POST /stores/{hash}/v3/hooks (paginated list with data + meta.pagination), GET/PUT/DELETE
// /stores/{hash}/v3/hooks/{id}, X-Auth-Token checked on every call (401), BigCommerce-style error
// bodies ({status,title,type[,errors]}), 422 on a duplicate scope + destination. Tests inspect
// and change its state directly (those changes are not counted as calls).
import http from "node:http";

const TYPE = "/api-docs/getting-started/api-status-codes";
const UNAUTHORIZED =
  "Unauthorized - the v3 Auth client ID or token in the request are not a valid combination for this store.";

export class MockBigCommerce {
  /**
   * `pageSize` is the default `limit` of a list: small, so 19 hooks span several pages.
   * `token` is the access token it accepts; change `mock.token` to make the relay's wrong.
   */
  constructor({ storeHash = "abc123", token = "bc-access-token", pageSize = 5 } = {}) {
    this.storeHash = storeHash;
    this.token = token;
    this.pageSize = pageSize;
    this.hooks = new Map();
    this.nextId = 18_048_287;
    this.calls = [];
    this.failures = [];
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const url = new URL(req.url, "http://mock");
        this.calls.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body });
        const answer = this.#handle(req.method, url, req.headers, body);
        res.writeHead(answer.status, { "content-type": "application/json" });
        res.end(answer.body === undefined ? "" : JSON.stringify(answer.body));
      });
    });
  }

  async start() {
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    this.base = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  stop() {
    this.server.closeAllConnections?.();
    return new Promise((r) => this.server.close(r));
  }

  // ---- inspection ----

  /** Every hook (copies), by id. */
  list() {
    return [...this.hooks.values()].sort((a, b) => a.id - b.id).map((h) => structuredClone(h));
  }
  get(id) {
    const h = this.hooks.get(id);
    return h && structuredClone(h);
  }
  byScope(scope, destination) {
    return this.list().filter((h) => h.scope === scope && (destination === undefined || h.destination === destination));
  }
  /** Calls received with `method` (GET, POST, PUT, DELETE) since the last `resetCalls`. */
  count(method) {
    return this.calls.filter((c) => c.method === method).length;
  }
  resetCalls() {
    this.calls = [];
  }

  // ---- changing state behind the relay's back ----

  add({ scope, destination, is_active = true, headers = null }) {
    const now = Math.floor(Date.now() / 1000);
    const hook = { id: this.nextId++, client_id: "mock-client-id", store_hash: this.storeHash, scope, destination, is_active, headers, created_at: now, updated_at: now };
    this.hooks.set(hook.id, hook);
    return structuredClone(hook);
  }
  set(id, patch) {
    const h = this.hooks.get(id);
    if (!h) throw new Error(`no hook ${id}`);
    Object.assign(h, patch, { updated_at: Math.floor(Date.now() / 1000) });
    return structuredClone(h);
  }
  remove(id) {
    this.hooks.delete(id);
  }
  clear() {
    this.hooks.clear();
  }
  /** The next `method` (POST or PUT) for a hook of `scope` answers `status` with `body`. */
  failNext(method, scope, status, body) {
    this.failures.push({ method, scope, status, body });
  }

  // ---- the API ----

  #handle(method, url, headers, text) {
    const m = url.pathname.match(/^\/stores\/([^/]+)\/v3\/hooks(?:\/([^/]+))?$/);
    if (!m) return error(404, "Not found");
    if (headers["x-auth-token"] !== this.token) return error(401, UNAUTHORIZED);
    if (m[1] !== this.storeHash) return error(404, "Store not found");
    const id = m[2] === undefined ? undefined : Number(m[2]);
    if (id !== undefined && !(Number.isInteger(id) && id >= 1)) return error(400, "Input is invalid.");

    let body;
    if (method === "POST" || method === "PUT") {
      if (!String(headers["content-type"] ?? "").startsWith("application/json")) return error(415, "Unsupported Media Type");
      try {
        body = JSON.parse(text);
      } catch {
        return error(400, "Input is invalid.");
      }
      if (body === null || typeof body !== "object" || Array.isArray(body)) return error(400, "Input is invalid.");
    }

    if (id === undefined) {
      if (method === "GET") return this.#list(url.searchParams);
      if (method === "POST") return this.#create(body);
      return error(405, "Method Not Allowed");
    }
    const hook = this.hooks.get(id);
    if (!hook) return error(404, `Webhook with id [${id}] not found`);
    if (method === "GET") return { status: 200, body: { data: hook, meta: {} } };
    if (method === "PUT") return this.#update(hook, body);
    if (method === "DELETE") {
      this.hooks.delete(id);
      return { status: 200, body: { data: hook, meta: {} } };
    }
    return error(405, "Method Not Allowed");
  }

  #list(q) {
    const page = q.has("page") ? Number(q.get("page")) : 1;
    const limit = q.has("limit") ? Number(q.get("limit")) : this.pageSize;
    if (!(Number.isInteger(page) && page >= 1 && Number.isInteger(limit) && limit >= 1)) return error(400, "Input is invalid.");
    let all = this.list();
    if (q.has("is_active")) all = all.filter((h) => String(h.is_active) === q.get("is_active"));
    if (q.has("scope")) all = all.filter((h) => h.scope === q.get("scope"));
    if (q.has("destination")) all = all.filter((h) => h.destination === q.get("destination"));
    const totalPages = Math.max(1, Math.ceil(all.length / limit));
    const data = all.slice((page - 1) * limit, page * limit);
    const link = (p) => `?page=${p}&limit=${limit}`;
    const links = { current: link(page) };
    if (page > 1) links.previous = link(page - 1);
    if (page < totalPages) links.next = link(page + 1);
    return {
      status: 200,
      body: { data, meta: { pagination: { total: all.length, count: data.length, per_page: limit, current_page: page, total_pages: totalPages, links } } },
    };
  }

  #failure(method, scope) {
    const i = this.failures.findIndex((f) => f.method === method && f.scope === scope);
    if (i < 0) return undefined;
    const [f] = this.failures.splice(i, 1);
    return { status: f.status, body: f.body };
  }

  #invalid(body, { partial }) {
    const errors = {};
    for (const field of ["scope", "destination"]) {
      if (body[field] === undefined) {
        if (!partial) errors[field] = "error.path.missing.";
      } else if (typeof body[field] !== "string" || body[field] === "") errors[field] = "error.expected.jsstring";
    }
    if (typeof body.destination === "string" && !/^https:\/\/[^/:]+(\/|$)/.test(body.destination)) {
      errors.destination = "Destination URL must be served on https on port 443 (custom ports are not supported).";
    }
    if (body.is_active !== undefined && typeof body.is_active !== "boolean") errors.is_active = "error.expected.jsboolean";
    if (body.headers !== undefined && body.headers !== null) {
      if (typeof body.headers !== "object" || Array.isArray(body.headers) || Object.values(body.headers).some((v) => typeof v !== "string")) {
        errors.headers = "error.expected.jsobject of strings";
      }
    }
    if (partial && Object.keys(body).filter((k) => ["scope", "destination", "is_active", "headers"].includes(k)).length === 0) {
      errors.body = "At least one field is required to perform an update.";
    }
    return Object.keys(errors).length ? detailed(422, "JSON data is missing or invalid", errors) : undefined;
  }

  #duplicate(scope, destination, exceptId) {
    const others = [...this.hooks.values()].filter((h) => h.id !== exceptId);
    if (others.some((h) => h.scope === scope && h.destination === destination)) {
      return detailed(422, "Webhook already exists", { scope: `a webhook for ${scope} and this destination already exists` });
    }
    // BigCommerce: the delivery-exception hook's destination must differ from every other hook's.
    const exception = "store/hook/deliveryException";
    if (others.some((h) => h.destination === destination && (h.scope === exception) !== (scope === exception))) {
      return detailed(422, "JSON data is missing or invalid", { destination: "the store/hook/deliveryException destination must differ from every other hook's" });
    }
    return undefined;
  }

  #create(body) {
    const bad = this.#failure("POST", body.scope) ?? this.#invalid(body, { partial: false }) ?? this.#duplicate(body.scope, body.destination);
    if (bad) return bad;
    const hook = this.add({ scope: body.scope, destination: body.destination, is_active: body.is_active ?? true, headers: body.headers ?? null });
    return { status: 200, body: { data: hook, meta: {} } };
  }

  #update(hook, body) {
    const scope = body.scope ?? hook.scope;
    const destination = body.destination ?? hook.destination;
    const bad = this.#failure("PUT", hook.scope) ?? this.#invalid(body, { partial: true }) ?? this.#duplicate(scope, destination, hook.id);
    if (bad) return bad;
    const patch = {};
    for (const k of ["scope", "destination", "is_active", "headers"]) if (body[k] !== undefined) patch[k] = body[k];
    return { status: 200, body: { data: this.set(hook.id, patch), meta: {} } };
  }
}

function error(status, title) {
  return { status, body: { status, title, type: TYPE } };
}

function detailed(status, title, errors) {
  return { status, body: { status, title, type: TYPE, errors } };
}
