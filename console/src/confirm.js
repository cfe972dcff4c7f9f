// A modal confirmation (a <dialog>): resolves true on Confirm, false on Cancel or Escape.

import { h } from "./dom.js";

export function confirmDialog(title, text) {
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: "danger" }, "Confirm");
    const cancel = h("button", { type: "button" }, "Cancel");
    const d = h("dialog", { "aria-labelledby": "dlg-title" }, h("h2", { id: "dlg-title" }, title), h("p", {}, text), h("div", { class: "actions" }, cancel, ok));
    const done = (v) => {
      d.close();
      d.remove();
      resolve(v);
    };
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    d.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(d);
    d.showModal();
    cancel.focus();
  });
}
