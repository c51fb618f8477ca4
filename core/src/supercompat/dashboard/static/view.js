// What every page shares: knowing whether it is still the one shown, showing itself, following what
// changes, and saying what went wrong.

import { ApiError, session } from "./api.js";
import { h, replace } from "./dom.js";

export const PAGE = 20;
export const ACTIVE = new Set(["queued", "in_progress", "requires_action", "cancelling"]);
export const main = document.getElementById("main");

let view = 0; // each navigation's number
let focused = 0; // the navigation whose first screen took the focus

// The user went elsewhere while a page was waiting for the API: that page stops, quietly.
export class Left extends Error {}

export const navigate = () => ++view;
export const alive = (token) => token === view;
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Shows a page's content, unless another page is shown by now (then the page stops). The first
// screen of each navigation gives its heading the focus; later ones (updates) leave the focus alone.
export function screen(token, ...children) {
  if (!alive(token)) throw new Left();
  replace(main, ...children);
  if (focused !== token) {
    focused = token;
    main.querySelector("h1")?.focus({ preventScroll: true });
  }
}

// Follows something that changes: `step()` every `every()` ms while the tab is visible, until it
// returns false or another page is shown. A refused key ends it at the login form; other failures
// (a server restarting) are shown by `trouble(error)` and tried again.
export async function follow(token, every, step, trouble) {
  while (alive(token)) {
    await sleep(every());
    if (!alive(token) || document.hidden) continue;
    try {
      if ((await step()) === false) return;
    } catch (error) {
      if (!alive(token) || error instanceof Left) return;
      if (error instanceof ApiError && error.status === 401) {
        screen(token, failure(error));
        return;
      }
      trouble(error);
    }
  }
}

export function failure(error) {
  if (error instanceof ApiError && error.status === 401) {
    session.key = null;
    setTimeout(() => window.dispatchEvent(new Event("hashchange")), 0); // to the login form
    return h("p", { role: "alert" }, "Your key was refused: log in again.");
  }
  return h("div", { class: "error", role: "alert" }, error.message || String(error));
}
