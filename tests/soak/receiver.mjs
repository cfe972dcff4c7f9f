// A downstream for the soak runs: a real HTTP server on 127.0.0.1 whose faults are decided per
// request. Unlike the e2e Receiver it can act before the body is read (a consumer killed
// mid-request), hang forever, listen on a port reserved in advance (a target that is down and
// comes back), and it records what it answered, so "delivered" means "the receiver accepted it".
import http from "node:http";

/**
 * `decide(req, seen)` runs once the headers have arrived and returns one of:
 *   { status }                 answer after reading the body
 *   { status, delayMs }        read the body, wait, then answer (a slow target)
 *   "reset"                    read the body, then destroy the connection
 *   "kill"                     destroy the connection before reading the body
 *   "hang"                     read the body and never answer (until stop())
 * `seen` is how many earlier requests carried the same webhook-id.
 */
export class FaultReceiver {
  constructor(name, decide = () => ({ status: 200 })) {
    this.name = name;
    this.decide = decide;
    this.requests = [];
    this.byIdMap = new Map();
    this.hanging = new Set();
    this.server = http.createServer((req, res) => this.#handle(req, res));
    // Hung requests must outlive the relay's timeout by far; Node's own timeouts would cut them.
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 0;
    this.server.keepAliveTimeout = 5_000;
  }

  #handle(req, res) {
    const id = req.headers["webhook-id"] ?? "";
    const earlier = this.byIdMap.get(id) ?? [];
    const record = { at: Date.now(), method: req.method, url: req.url, headers: req.headers, body: "", answer: null };
    const decision = this.decide(record, earlier.length);
    record.answer = typeof decision === "string" ? decision : decision.delayMs ? `${decision.status} after ${decision.delayMs} ms` : decision.status;
    record.accepted = typeof decision === "object" && decision.status >= 200 && decision.status < 300;
    this.requests.push(record);
    earlier.push(record);
    this.byIdMap.set(id, earlier);
    if (decision === "kill") {
      req.socket.destroy();
      return;
    }
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("error", () => {});
    req.on("end", () => {
      record.body = Buffer.concat(chunks).toString("utf8");
      if (decision === "reset") return req.socket.destroy();
      if (decision === "hang") {
        this.hanging.add(res);
        res.on("close", () => this.hanging.delete(res));
        return;
      }
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(decision.status, { "content-type": "application/json" });
        res.end('{"ok":true}');
      };
      if (decision.delayMs) setTimeout(answer, decision.delayMs);
      else answer();
    });
  }

  /** Listens on `port` (0: any free port). A reserved port can be passed to come up late. */
  async start(port = 0) {
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}/hook`;
    return this;
  }

  stop() {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections?.();
    return new Promise((r) => this.server.close(() => r()));
  }

  byId(id) {
    return this.byIdMap.get(id) ?? [];
  }

  /** Ids this receiver accepted (answered 2xx) at least once. */
  acceptedIds() {
    const ids = new Set();
    for (const r of this.requests) if (r.accepted) ids.add(r.headers["webhook-id"]);
    return ids;
  }
}
