// The dashboard: routes (in the URL's fragment, never holding the key), and a page for each kind of
// object. Pages read the API in pages of PAGE items, so no page's calls grow with a thread's length.

import { ApiError, get, post, session } from "./api.js";
import { FILE_SEARCH_CONTENT, conversation, download, stepsOfRuns, toolCall } from "./chat.js";
import { badge, bytes, code, fields, h, isEmpty, link, replace, when } from "./dom.js";
import { playground } from "./playground.js";

export const PAGE = 20;
export const ACTIVE = new Set(["queued", "in_progress", "requires_action", "cancelling"]);
const main = document.getElementById("main");
let view = 0; // each navigation's number: a page's polling stops once another page is shown

export const alive = (token) => token === view;
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const toolNames = (tools) => (tools || []).map((t) => (t.type === "function" ? t.function.name : t.type)).join(", ");
const pairs = (obj) => (isEmpty(obj) ? "—" : Object.entries(obj).map(([k, v]) => `${k}: ${v}`).join(", "));

// -- lists ----------------------------------------------------------------------------------------
const LISTS = {
  assistants: {
    title: "Assistants", noun: "assistant", prefix: "asst_",
    columns: [["Name", (a) => a.name || "—"], ["Model", (a) => a.model], ["Tools", (a) => toolNames(a.tools) || "—"],
      ["Created", (a) => when(a.created_at)]],
  },
  threads: {
    title: "Threads", noun: "thread", prefix: "thread_",
    columns: [["Metadata", (t) => pairs(t.metadata)], ["Created", (t) => when(t.created_at)]],
  },
  files: {
    title: "Files", noun: "file", prefix: "file-",
    columns: [["Filename", (f) => f.filename], ["Purpose", (f) => f.purpose], ["Size", (f) => bytes(f.bytes)],
      ["Created", (f) => when(f.created_at)]],
  },
  vector_stores: {
    title: "Vector stores", noun: "vector store", prefix: "vs_",
    columns: [["Name", (v) => v.name || "—"], ["Status", (v) => badge(v.status)],
      ["Files", (v) => `${v.file_counts.completed} of ${v.file_counts.total} ready`], ["Size", (v) => bytes(v.usage_bytes)],
      ["Created", (v) => when(v.created_at)]],
  },
};

function openById(kind) {
  const spec = LISTS[kind];
  const input = h("input", { id: "open-id", type: "search", placeholder: `${spec.prefix}…`, autocomplete: "off",
    spellcheck: "false", required: true });
  return h("form", {
    class: "open-id", role: "search",
    onsubmit: (event) => { event.preventDefault(); location.hash = `#/${kind}/${encodeURIComponent(input.value.trim())}`; },
  }, h("label", { for: "open-id" }, `Open a ${spec.noun} by ID`), input, h("button", { type: "submit" }, "Open"));
}

async function listPage(kind, params) {
  const spec = LISTS[kind];
  const query = { limit: PAGE, after: params.get("after"), before: params.get("before") };
  const body = h("div", { class: "list" }, h("p", { class: "muted" }, "Loading…"));
  replace(main, h("h1", { tabindex: "-1" }, spec.title), openById(kind), body);
  const page = await get(kind, query);
  if (!page.data.length) {
    replace(body, h("p", {}, query.after || query.before ? "No more here." : `No ${spec.title.toLowerCase()} yet.`));
    return;
  }
  const older = query.before ? true : page.has_more;
  const newer = query.after ? true : Boolean(query.before && page.has_more);
  replace(body,
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "ID"), spec.columns.map(([name]) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, page.data.map((obj) => h("tr", {},
        h("th", { scope: "row" }, link(`#/${kind}/${obj.id}`, obj.id)),
        spec.columns.map(([, cell]) => h("td", {}, cell(obj)))))))),
    h("nav", { class: "pager", "aria-label": "Pages" },
      newer ? link(`#/${kind}?before=${page.first_id}`, "← Newer") : null,
      older ? link(`#/${kind}?after=${page.last_id}`, "Older →") : null));
}

// -- assistants -----------------------------------------------------------------------------------
async function assistantPage(id) {
  const a = await get(`assistants/${id}`);
  replace(main,
    h("h1", { tabindex: "-1" }, a.name || a.id),
    h("p", {}, link(`#/playground?assistant=${a.id}`, "Try it in the playground")),
    fields([["ID", a.id], ["Model", a.model], ["Created", when(a.created_at)], ["Description", a.description],
      ["Temperature", a.temperature], ["Top p", a.top_p], ["Response format", code(a.response_format)],
      ["Metadata", pairs(a.metadata)]]),
    h("h2", {}, "Instructions"), h("pre", { class: "code", tabindex: "0" }, a.instructions || "—"),
    h("h2", {}, "Tools"),
    a.tools.length ? h("ul", { class: "tools" }, a.tools.map((t) => h("li", {},
      t.type === "function"
        ? [h("strong", {}, t.function.name), t.function.description ? ` — ${t.function.description}` : "",
          h("details", {}, h("summary", {}, "Parameters"), code(t.function.parameters || {}))]
        : h("strong", {}, t.type)))) : h("p", {}, "None."),
    h("h2", {}, "Tool resources"), resources(a.tool_resources));
}

function resources(res) {
  if (isEmpty(res)) return h("p", {}, "None.");
  const files = res.code_interpreter?.file_ids || [];
  const stores = res.file_search?.vector_store_ids || [];
  return fields([
    ["code_interpreter files", files.length ? h("span", {}, files.map((f, i) => [i ? ", " : "", link(`#/files/${f}`, f)])) : "—"],
    ["file_search vector stores", stores.length
      ? h("span", {}, stores.map((s, i) => [i ? ", " : "", link(`#/vector_stores/${s}`, s)])) : "—"]]);
}

// -- threads --------------------------------------------------------------------------------------
// The thread's newest page of messages first, more on request, and the steps of the runs on screen
// (one call a run); while a run is active, its progress every second.
async function threadPage(id, token) {
  const thread = await get(`threads/${id}`);
  const messages = new Map();
  const steps = new Map();
  let older = false;
  let runs = [];
  const runsBox = h("div", {});
  const chat = h("div", { class: "chat", "aria-label": "Conversation" });
  const earlier = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => loadEarlier() },
    "Load earlier messages");
  const status = h("p", { role: "status", class: "live" });
  replace(main,
    h("h1", { tabindex: "-1" }, "Thread ", h("code", {}, thread.id)),
    h("p", {}, link(`#/playground?thread=${thread.id}`, "Continue in the playground")),
    fields([["Created", when(thread.created_at)], ["Metadata", pairs(thread.metadata)]]),
    h("h2", {}, "Tool resources"), resources(thread.tool_resources),
    h("h2", {}, "Runs"), runsBox,
    h("h2", {}, "Conversation"), earlier, chat, status);

  const base = `threads/${id}`;
  async function stepsOf(runIds, again = new Set()) {
    const found = await stepsOfRuns(id, runIds.filter((r) => !steps.has(r) || again.has(r)));
    for (const [run, list] of found) steps.set(run, list);
  }
  function take(page) {
    for (const m of page.data) messages.set(m.id, m);
  }
  function draw() {
    const ordered = [...messages.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    replace(chat, ordered.length ? conversation(ordered, steps) : h("p", {}, "No messages."));
    earlier.hidden = !older;
    replace(runsBox, runs.length ? runTable(id, runs) : h("p", {}, "No runs yet."));
    const active = runs.find((r) => ACTIVE.has(r.status));
    status.textContent = active ? `Run ${active.id} is ${active.status.replace("_", " ")}; updating live.` : "";
  }
  async function loadEarlier() {
    const oldest = [...messages.keys()].sort()[0];
    const page = await get(`${base}/messages`, { limit: PAGE, order: "desc", after: oldest });
    take(page);
    older = page.has_more;
    await stepsOf(page.data.map((m) => m.run_id));
    draw();
  }

  const [first, runPage] = await Promise.all([get(`${base}/messages`, { limit: PAGE, order: "desc" }),
    get(`${base}/runs`, { limit: 10 })]);
  take(first);
  older = first.has_more;
  runs = runPage.data;
  await stepsOf(first.data.map((m) => m.run_id));
  draw();

  let seen = JSON.stringify(runs.map((r) => [r.id, r.status]));
  while (alive(token)) {
    const busy = runs.some((r) => ACTIVE.has(r.status));
    await sleep(busy ? 1000 : 3000);
    if (!alive(token) || document.hidden) continue;
    runs = (await get(`${base}/runs`, { limit: 10 })).data;
    const now = JSON.stringify(runs.map((r) => [r.id, r.status]));
    if (now === seen && !busy) continue;
    seen = now;
    const changed = new Set(runs.filter((r) => ACTIVE.has(r.status) || busy).map((r) => r.id));
    take(await get(`${base}/messages`, { limit: PAGE, order: "desc" }));
    await stepsOf([...messages.values()].map((m) => m.run_id).filter((r) => changed.has(r)), changed);
    if (alive(token)) draw();
  }
}

function runTable(threadId, runs) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Run", "Status", "Assistant", "Created"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, runs.map((r) => h("tr", {},
      h("th", { scope: "row" }, link(`#/threads/${threadId}/runs/${r.id}`, r.id)),
      h("td", {}, badge(r.status)),
      h("td", {}, link(`#/assistants/${r.assistant_id}`, r.assistant_id)),
      h("td", {}, when(r.created_at)))))));
}

// -- runs -----------------------------------------------------------------------------------------
async function runPage(threadId, runId, token) {
  const base = `threads/${threadId}/runs/${runId}`;
  for (;;) {
    const [run, steps] = await Promise.all([get(base),
      get(`${base}/steps`, { limit: 100, order: "asc", "include[]": [FILE_SEARCH_CONTENT] })]);
    if (!alive(token)) return;
    const focused = main.contains(document.activeElement) ? null : undefined;
    replace(main, ...runView(run, steps.data));
    if (focused === undefined) main.querySelector("h1")?.focus({ preventScroll: true });
    if (!ACTIVE.has(run.status)) return;
    await sleep(1000);
    if (!alive(token)) return;
  }
}

function runView(run, steps) {
  const moments = [["Created", run.created_at], ["Started", run.started_at], ["Cancelled", run.cancelled_at],
    ["Failed", run.failed_at], ["Completed", run.completed_at]].filter(([, t]) => t);
  if (ACTIVE.has(run.status) && run.expires_at) moments.push(["Expires", run.expires_at]);
  return [
    h("h1", { tabindex: "-1" }, "Run ", h("code", {}, run.id), " ", badge(run.status)),
    run.last_error ? h("div", { class: "error", role: "alert" },
      h("strong", {}, `Error (${run.last_error.code}): `), run.last_error.message) : null,
    run.incomplete_details ? h("p", { class: "error" }, `Incomplete: ${run.incomplete_details.reason}`) : null,
    run.status === "requires_action"
      ? h("p", {}, "Waiting for tool outputs: ", link(`#/playground?thread=${run.thread_id}`, "answer them in the playground"), ".")
      : null,
    h("h2", {}, "Timeline"),
    h("ol", { class: "timeline" }, moments.map(([name, t]) => h("li", {}, h("strong", {}, name), ` ${when(t)}`))),
    fields([["Thread", link(`#/threads/${run.thread_id}`, run.thread_id)],
      ["Assistant", link(`#/assistants/${run.assistant_id}`, run.assistant_id)], ["Model", run.model],
      ["Tools", toolNames(run.tools) || "—"], ["Tool choice", code(run.tool_choice)],
      ["Temperature", run.temperature], ["Top p", run.top_p], ["Metadata", pairs(run.metadata)]]),
    h("h2", {}, "Usage"),
    run.usage ? fields([["Prompt tokens", run.usage.prompt_tokens], ["Completion tokens", run.usage.completion_tokens],
      ["Total tokens", run.usage.total_tokens]]) : h("p", {}, "Not yet known."),
    h("h2", {}, "Instructions"), h("pre", { class: "code", tabindex: "0" }, run.instructions || "—"),
    h("h2", {}, `Steps (${steps.length})`),
    steps.length ? h("ol", { class: "steps" }, steps.map(stepView)) : h("p", {}, "No steps yet."),
  ];
}

function stepView(s) {
  const d = s.step_details;
  return h("li", { class: "step", "data-step-id": s.id },
    h("h3", {}, d.type === "tool_calls" ? "Tool calls" : "Message", " ", badge(s.status)),
    h("p", { class: "muted" }, `${s.id} · created ${when(s.created_at)}`,
      s.completed_at ? ` · completed ${when(s.completed_at)}` : "",
      s.usage ? ` · ${s.usage.total_tokens} tokens` : ""),
    s.last_error ? h("p", { class: "error" }, `${s.last_error.code}: ${s.last_error.message}`) : null,
    d.type === "tool_calls" ? d.tool_calls.map(toolCall)
      : h("p", {}, "Wrote message ", h("code", {}, d.message_creation.message_id), "."));
}

// -- files and vector stores ----------------------------------------------------------------------
async function filePage(id) {
  const f = await get(`files/${id}`);
  replace(main,
    h("h1", { tabindex: "-1" }, f.filename),
    fields([["ID", f.id], ["Purpose", f.purpose], ["Size", bytes(f.bytes)], ["Created", when(f.created_at)],
      ["Status", f.status], ["Expires", f.expires_at ? when(f.expires_at) : undefined]]),
    h("p", {}, h("button", { type: "button", onclick: () => download(f.id, f.filename) }, "Download")));
}

async function vectorStorePage(id) {
  const v = await get(`vector_stores/${id}`);
  const files = h("div", {});
  const results = h("div", { "aria-live": "polite" });
  const query = h("input", { id: "search-query", type: "search", required: true, autocomplete: "off" });
  replace(main,
    h("h1", { tabindex: "-1" }, v.name || v.id),
    fields([["ID", v.id], ["Status", badge(v.status)], ["Size", bytes(v.usage_bytes)],
      ["Files", `${v.file_counts.completed} ready, ${v.file_counts.in_progress} in progress, ${v.file_counts.failed} failed, `
        + `${v.file_counts.cancelled} cancelled`],
      ["Created", when(v.created_at)], ["Expires", v.expires_at ? when(v.expires_at) : "never"],
      ["Metadata", pairs(v.metadata)]]),
    h("h2", {}, "Search"),
    h("form", {
      class: "search", role: "search",
      onsubmit: async (event) => {
        event.preventDefault();
        replace(results, h("p", { class: "muted" }, "Searching…"));
        try {
          const found = await post(`vector_stores/${id}/search`,
            { query: query.value, max_num_results: 10 });
          replace(results, found.data.length ? h("ol", { class: "results" }, found.data.map((r) => h("li", {},
            link(`#/files/${r.file_id}`, r.filename || r.file_id), h("span", { class: "muted" }, ` · score ${r.score.toFixed(3)}`),
            r.content.map((c) => h("p", { class: "excerpt" }, c.text))))) : h("p", {}, "Nothing found."));
        } catch (error) { replace(results, failure(error)); }
      },
    }, h("label", { for: "search-query" }, "Search this vector store"), query, h("button", { type: "submit" }, "Search")),
    results,
    h("h2", {}, "Files"), files);
  let after = null;
  const more = h("button", { type: "button", class: "secondary", onclick: () => page() }, "More files");
  const table = h("tbody", {});
  async function page() {
    const found = await get(`vector_stores/${id}/files`, { limit: PAGE, after });
    for (const f of found.data) {
      table.append(h("tr", {}, h("th", { scope: "row" }, link(`#/files/${f.id}`, f.id)), h("td", {}, badge(f.status)),
        h("td", {}, bytes(f.usage_bytes)), h("td", {}, f.last_error ? `${f.last_error.code}: ${f.last_error.message}` : "—")));
    }
    after = found.last_id;
    more.hidden = !found.has_more;
    if (!table.children.length) replace(files, h("p", {}, "No files."));
  }
  replace(files, h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, ["File", "Status", "Size", "Error"].map((c) => h("th", { scope: "col" }, c)))), table)), more);
  await page();
}

// -- login, layout and routes ---------------------------------------------------------------------
export function failure(error) {
  if (error instanceof ApiError && error.status === 401) {
    session.key = null;
    setTimeout(() => route(), 0);
    return h("p", { role: "alert" }, "Your key was refused: log in again.");
  }
  return h("div", { class: "error", role: "alert" }, error.message || String(error));
}

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

const ROUTES = [
  [/^\/(assistants|threads|files|vector_stores)$/, (m, params) => listPage(m[1], params)],
  [/^\/assistants\/([^/]+)$/, (m) => assistantPage(m[1])],
  [/^\/threads\/([^/]+)$/, (m, _, token) => threadPage(m[1], token)],
  [/^\/threads\/([^/]+)\/runs\/([^/]+)$/, (m, _, token) => runPage(m[1], m[2], token)],
  [/^\/files\/([^/]+)$/, (m) => filePage(m[1])],
  [/^\/vector_stores\/([^/]+)$/, (m) => vectorStorePage(m[1])],
  [/^\/playground$/, (m, params, token) => playground(main, params, token)],
];

async function route() {
  const token = ++view;
  const [path, search] = (location.hash.slice(1) || "/threads").split("?");
  if (!(await signedIn())) { login(); return; }
  if (!alive(token)) return;
  const top = document.getElementById("top");
  top.hidden = false;
  document.getElementById("logout").hidden = !session.key;
  for (const a of top.querySelectorAll("nav a")) {
    if (path.startsWith(a.getAttribute("href").slice(1))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const found = ROUTES.map(([pattern, page]) => [path.match(pattern), page]).find(([m]) => m);
  if (!found) { replace(main, h("h1", {}, "Not found"), h("p", {}, `Nothing is shown at ${path}.`)); return; }
  const [match, page] = found;
  match.forEach((part, i) => { match[i] = decodeURIComponent(part); });
  replace(main, h("p", { class: "muted" }, "Loading…"));
  try {
    await page(match, new URLSearchParams(search || ""), token);
  } catch (error) {
    if (alive(token)) replace(main, h("h1", { tabindex: "-1" }, "Something went wrong"), failure(error));
  }
  if (alive(token) && !main.contains(document.activeElement)) main.querySelector("h1")?.focus({ preventScroll: true });
}

document.getElementById("logout").addEventListener("click", () => {
  session.key = null;
  open = null;
  login("Logged out.");
});
window.addEventListener("hashchange", route);
route();
