// A tiny downstream for `make dev`: prints every event the relay delivers and checks its
// Standard Webhooks signature with the official `standardwebhooks` library.
import http from "node:http";
import { Webhook } from "standardwebhooks";

const port = Number(process.env.DEMO_PORT ?? 8788);
const secret = process.env.DEMO_SIGNING_SECRET ?? "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const wh = new Webhook(secret);

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let verdict = "no signature";
      if (req.headers["webhook-signature"]) {
        try {
          wh.verify(body, req.headers);
          verdict = "signature OK";
        } catch (e) {
          verdict = `signature INVALID (${e.message})`;
        }
      }
      console.log(`\n[demo-receiver] ${req.method} ${req.url}  webhook-id=${req.headers["webhook-id"]}  ${verdict}`);
      try {
        console.log(JSON.stringify(JSON.parse(body), null, 2));
      } catch {
        console.log(body);
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
  })
  .listen(port, "127.0.0.1", () => console.log(`[demo-receiver] listening on http://127.0.0.1:${port}/events`));
