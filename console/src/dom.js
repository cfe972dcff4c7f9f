// A few DOM helpers: elements from text only (no innerHTML anywhere), tables with a header
// row, times and durations as an operator reads them.

/** h("button", {class: "x", onclick}, "Replay") — children are nodes or text. */
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", v);
    else if (k in el && !(el instanceof SVGElement) && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * A table with a header row: `columns` are [title, row => cell]; `rows` the data.
 * `empty` is what an empty table says.
 */
export function table(columns, rows, { caption, empty = "Nothing here.", rowAttrs } = {}) {
  const t = h(
    "table",
    {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", { scope: "col" }, title)))),
    h(
      "tbody",
      {},
      rows.length
        ? rows.map((r) => h("tr", rowAttrs ? rowAttrs(r) : {}, columns.map(([title, cell]) => h("td", { "data-label": title }, cell(r)))))
        : h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty)),
    ),
  );
  return h("div", { class: "table-wrap" }, t);
}

/** An error as the API said it, in an alert region. */
export function errorBox(e) {
  return h("p", { class: "error", role: "alert" }, e.code ? h("code", {}, e.code) : null, e.code ? " " : null, e.message || String(e));
}

export function notice(text) {
  return h("p", { class: "notice", role: "status" }, text);
}

const pad = (n) => String(n).padStart(2, "0");

/** Unix ms or an RFC 3339 string → "2026-05-01 12:03:04" in local time. */
export function when(t) {
  if (t === undefined || t === null || t === "") return "—";
  const d = new Date(typeof t === "number" ? t : String(t));
  if (Number.isNaN(d.getTime())) return String(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "12 ms", "1.4 s", "3 min". */
export function ms(v) {
  if (v === undefined || v === null) return "—";
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(1)} s`;
  if (v < 3_600_000) return `${Math.round(v / 60_000)} min`;
  return `${(v / 3_600_000).toFixed(1)} h`;
}

export function seconds(s) {
  return s === undefined || s === null ? "—" : ms(s * 1000);
}

export function percent(n, d) {
  return d ? `${Math.round((1000 * n) / d) / 10} %` : "—";
}

/** A short id: the first 12 characters, the whole one in the title. */
export function shortId(id) {
  return h("code", { title: id }, id.length > 16 ? id.slice(0, 12) + "…" : id);
}

/** A button that disables itself while `action` runs. */
export function button(label, action, { kind } = {}) {
  const b = h("button", { type: "button", class: kind || null });
  b.textContent = label;
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await action(b);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/** A badge for a mode or state. */
export function badge(text) {
  return h("span", { class: "badge badge-" + String(text).replace(/[^a-z_]/g, "") }, text);
}

export function labelled(label, control) {
  const id = "f-" + label.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

export function select(options, value) {
  return h(
    "select",
    {},
    options.map(([v, text]) => {
      const o = h("option", { value: v }, text);
      if (v === value) o.selected = true;
      return o;
    }),
  );
}
