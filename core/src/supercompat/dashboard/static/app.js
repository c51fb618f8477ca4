// The dashboard: logging in, the layout, and the routes. A route lives in the URL's fragment
// (#/threads/thread_...): it holds ids, never the key.

import { ApiError, get, session } from "./api.js";
import { forgetImages } from "./chat.js";
import { h, replace } from "./dom.js";
import { assistantPage, filePage, listPage, runPage, threadPage, vectorStorePage } from "./pages.js";
import { playground } from "./playground.js";
import { Left, alive, failure, main, navigate, screen } from "./view.js";

const ROUTES = [
  [/^\/(assistants|threads|files|vector_stores)$/, ([kind], params, token) => listPage(kind, params, token)],
  [/^\/assistants\/([^/]+)$/, ([id], _, token) => assistantPage(id, token)],
  [/^\/threads\/([^/]+)$/, ([id], _, token) => threadPage(id, token)],
  [/^\/threads\/([^/]+)\/runs\/([^/]+)$/, ([thread, run], _, token) => runPage(thread, run, token)],
  [/^\/files\/([^/]+)$/, ([id], _, token) => filePage(id, token)],
  [/^\/vector_stores\/([^/]+)$/, ([id], _, token) => vectorStorePage(id, token)],
  [/^\/playground$/, (_, params, token) => playground(params, token)],
];

function login(reason) {
  document.getElementById("top").hidden = true;
  const input = h("input", { id: "key", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const alert = h("p", { role: "alert", class: "error-text" }, reason || "");
  replace(main, h("form", {
    class: "login",
    onsubmit: async (event) => {
      event.preventDefault();
      session.key = input.value.trim();
      try {
        await get("assistants", { limit: 1 });
        route();
      } catch (error) {
        session.key = null;
        alert.textContent = error instanceof ApiError && error.status === 401
          ? "That key was refused." : `Could not log in: ${error.message}`;
        input.focus();
      }
    },
  }, h("h1", {}, "supercompat"),
  h("p", {}, "Log in with an API key of this server. It stays in this browser tab's session."),
  h("label", { for: "key" }, "API key"), input, h("button", { type: "submit" }, "Log in"), alert));
  input.focus();
}

// Without a key: a server with no API keys answers anyway, and then none is asked for.
let open = null;
async function signedIn() {
  if (session.key) return true;
  if (open === null) {
    try { await get("assistants", { limit: 1 }); open = true; } catch { open = false; }
  }
  return open;
}

async function route() {
  const token = navigate();
  forgetImages();
  const [where, search] = (location.hash.slice(1) || "/threads").split("?");
  if (!(await signedIn())) { login(); return; }
  if (!alive(token)) return;
  const top = document.getElementById("top");
  top.hidden = false;
  document.getElementById("logout").hidden = !session.key;
  for (const a of top.querySelectorAll("nav a")) {
    if (where.startsWith(a.getAttribute("href").slice(1))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  replace(main, h("p", { class: "muted" }, "Loading…"));
  try {
    const found = ROUTES.map(([pattern, page]) => [where.match(pattern), page]).find(([m]) => m);
    if (!found) throw new Error(`Nothing is shown at ${where}.`);
    const [match, page] = found;
    await page(match.slice(1).map(decodeURIComponent), new URLSearchParams(search || ""), token);
  } catch (error) {
    if (alive(token) && !(error instanceof Left)) {
      screen(token, h("h1", { tabindex: "-1" }, "Something went wrong"), failure(error));
    }
  }
}

document.getElementById("logout").addEventListener("click", () => {
  session.key = null;
  open = null;
  login("Logged out.");
});
window.addEventListener("hashchange", route);
route();
