// What several pages read the same way.

import { api } from "../api.js";
import { errorBox } from "../dom.js";

/** A target's lane mode, wherever the API puts it (`lane.mode` or `mode`). */
export const modeOf = (t) => (t.lane && t.lane.mode) || t.mode || (t.lane_error ? "unknown" : "—");

/** The lane's view: `lane` when the API nests it, else the target itself. */
export const laneOf = (t) => t.lane || t;

/** Target names for the filters. */
export const targetNames = () => api("targets").then((a) => a.targets.map((t) => t.name));

/**
 * Runs `load` and renders its result into `el`, or the API's error there, so one failing
 * section never hides the others.
 */
export async function section(el, load, render) {
  try {
    const data = await load();
    el.replaceChildren(...[].concat(render(data)).filter(Boolean));
  } catch (e) {
    el.replaceChildren(errorBox(e));
  }
}

/** `store/company/created` ← `company.created` (the short type a target matches). */
export const scopeOf = (short) => "store/" + short.split(".").join("/");
