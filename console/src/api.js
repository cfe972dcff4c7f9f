// The one place that talks to the relay: same-origin `/admin/` routes only, the admin token
// as a bearer header (never in a URL, never a cookie), errors as the API's own message.

const KEY = "b2b-relay.admin-token";

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

/** An answer that was not 2xx, carrying the API's `{"error":{"code","message"}}`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized = () => {};
/** Called when a request with the stored token gets 401 (token changed on the relay). */
export const whenUnauthorized = (f) => (onUnauthorized = f);

/**
 * `path` is relative to `/admin/`; `query` an object whose empty values are left out.
 * Resolves to the parsed JSON; rejects with an ApiError.
 */
export async function api(path, { method = "GET", query, body, bearer = token.get() } = {}) {
  let url = "/admin/" + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
    const s = q.toString();
    if (s) url += "?" + s;
  }
  const headers = { accept: "application/json" };
  if (bearer) headers.authorization = "Bearer " + bearer;
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
      referrerPolicy: "no-referrer",
    });
  } catch (e) {
    throw new ApiError(0, "network_error", `the relay could not be reached (${e.message})`);
  }
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = undefined;
  }
  if (res.ok && json !== undefined) return json;
  // Some routes answer 503 with a report body (replay): keep it for the caller.
  const err = json && json.error;
  const e = err
    ? new ApiError(res.status, err.code, err.message)
    : new ApiError(res.status, "http_" + res.status, `the relay answered ${res.status}${text ? ": " + text.slice(0, 200) : ""}`);
  e.body = json;
  if (res.status === 401 && bearer && bearer === token.get()) onUnauthorized(e);
  throw e;
}
