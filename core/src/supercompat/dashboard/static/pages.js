// A page for each kind of object. They read the API a page of PAGE items at a time, so no page's
// calls grow with what it shows (a thread of 10,000 messages opens as one of 20 does).

import { get, path, post } from "./api.js";
import { FILE_SEARCH_CONTENT, conversation, download, stepsOfRuns, toolCall } from "./chat.js";
import { badge, bytes, code, fields, h, isEmpty, link, replace, when } from "./dom.js";
import { ACTIVE, PAGE, failure, follow, screen } from "./view.js";

const toolNames = (tools) => (tools || []).map((t) => (t.type === "function" ? t.function.name : t.type)).join(", ");
const pairs = (obj) => (isEmpty(obj) ? "—" : Object.entries(obj).map(([k, v]) => `${k}: ${v}`).join(", "));
const trying = (note) => (error) => { note.textContent = `Could not update (${error.message}); trying again.`; };

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

// A form that opens `where(id)` for the id typed in.
function openById(label, placeholder, where) {
  const input = h("input", { id: "open-id", type: "search", placeholder, autocomplete: "off", spellcheck: "false",
    required: true });
  return h("form", {
    class: "open-id", role: "search",
    onsubmit: (event) => { event.preventDefault(); location.hash = where(encodeURIComponent(input.value.trim())); },
  }, h("label", { for: "open-id" }, label), input, h("button", { type: "submit" }, "Open"));
}

export async function listPage(kind, params, token) {
  const spec = LISTS[kind];
  const query = { limit: PAGE, after: params.get("after"), before: params.get("before") };
  const body = h("div", { class: "list" }, h("p", { class: "muted" }, "Loading…"));
  screen(token, h("h1", { tabindex: "-1" }, spec.title),
    openById(`Open a ${spec.noun} by ID`, `${spec.prefix}…`, (id) => `#/${kind}/${id}`), body);
  const page = await get(kind, query);
  if (!page.data.length) {
    replace(body, h("p", {}, query.after || query.before ? "No more here." : `No ${spec.title.toLowerCase()} yet.`));
    return;
  }
  const older = query.before ? true : page.has_more;
  const newer = query.after ? true : Boolean(query.before && page.has_more);
  replace(body,
    table(["ID", ...spec.columns.map(([name]) => name)], page.data.map((obj) => [link(`#/${kind}/${obj.id}`, obj.id),
      ...spec.columns.map(([, cell]) => cell(obj))])),
    h("nav", { class: "pager", "aria-label": "Pages" },
      newer ? link(`#/${kind}?before=${page.first_id}`, "← Newer") : null,
      older ? link(`#/${kind}?after=${page.last_id}`, "Older →") : null));
}

// A table whose first column heads its rows; `body` may be filled later.
function table(columns, rows, body = h("tbody", {})) {
  body.append(...rows.map((cells) => row(cells)));
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))), body));
}

const row = ([first, ...rest]) => h("tr", {}, h("th", { scope: "row" }, first), rest.map((cell) => h("td", {}, cell)));

// -- assistants -----------------------------------------------------------------------------------
export async function assistantPage(id, token) {
  const a = await get(path`assistants/${id}`);
  screen(token,
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
  const links = (ids, where) => (ids.length ? h("span", {}, ids.map((x, i) => [i ? ", " : "", link(where(x), x)])) : "—");
  return fields([
    ["code_interpreter files", links(res.code_interpreter?.file_ids || [], (f) => `#/files/${f}`)],
    ["file_search vector stores", links(res.file_search?.vector_store_ids || [], (v) => `#/vector_stores/${v}`)]]);
}

// -- threads --------------------------------------------------------------------------------------
// The thread's newest page of messages, more on request; the steps of the runs on screen (one call a
// run); its latest runs, older ones on request. While a run is active, the page follows it.
export async function threadPage(id, token) {
  const base = path`threads/${id}`;
  const [thread, first, latest] = await Promise.all([get(base), get(`${base}/messages`, { limit: PAGE, order: "desc" }),
    get(`${base}/runs`, { limit: 10 })]);
  const messages = new Map();
  const steps = new Map();
  let older = false;
  let runs = []; // the latest, followed
  let earlierRuns = []; // older ones, on request
  let moreRuns = false;
  const runsBox = h("div", {});
  const olderRuns = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => loadRuns() },
    "Older runs");
  const chat = h("div", { class: "chat", role: "region", "aria-label": "Conversation" });
  const earlier = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => loadEarlier() },
    "Load earlier messages");
  const status = h("p", { role: "status", class: "live" });
  screen(token,
    h("h1", { tabindex: "-1" }, "Thread ", h("code", {}, thread.id)),
    h("p", {}, link(`#/playground?thread=${thread.id}`, "Continue in the playground")),
    fields([["Created", when(thread.created_at)], ["Metadata", pairs(thread.metadata)]]),
    h("h2", {}, "Tool resources"), resources(thread.tool_resources),
    h("h2", {}, "Runs"), runsBox, olderRuns,
    openById("Open a run of this thread by ID", "run_…", (run) => `#/threads/${thread.id}/runs/${run}`),
    h("h2", {}, "Conversation"), earlier, chat, status);

  // The runs whose steps the conversation shows: those of its messages, and latest runs that wrote
  // none since its oldest message (waiting for tool outputs, or ended after calling tools).
  function runsOnScreen() {
    const shown = new Set([...messages.values()].map((m) => m.run_id).filter(Boolean));
    const since = Math.min(...[...messages.values()].map((m) => m.created_at));
    for (const r of runs) if (!messages.size || r.created_at >= since) shown.add(r.id);
    return [...shown];
  }
  async function readSteps(runIds, again = new Set()) {
    const found = await stepsOfRuns(id, runIds.filter((r) => !steps.has(r) || again.has(r)));
    for (const [run, list] of found) steps.set(run, list);
  }
  const take = (page) => { for (const m of page.data) messages.set(m.id, m); };
  function draw() {
    const ordered = [...messages.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    replace(chat, ordered.length ? conversation(ordered, steps, runs) : h("p", {}, "No messages."));
    earlier.hidden = !older;
    const listed = [...runs, ...earlierRuns.filter((r) => !runs.some((x) => x.id === r.id))];
    replace(runsBox, listed.length ? runTable(id, listed) : h("p", {}, "No runs yet."));
    olderRuns.hidden = !moreRuns;
    const active = runs.find((r) => ACTIVE.has(r.status));
    const text = active ? `Run ${active.id} ${DOING[active.status]}; updating live.` : "";
    if (status.textContent !== text) status.textContent = text;
  }
  async function loadEarlier() {
    earlier.disabled = true;
    try {
      const oldest = [...messages.keys()].sort()[0];
      const page = await get(`${base}/messages`, { limit: PAGE, order: "desc", after: oldest });
      take(page);
      older = page.has_more;
      await readSteps(page.data.map((m) => m.run_id).filter(Boolean));
      draw();
    } catch (error) {
      replace(status, failure(error));
    } finally {
      earlier.disabled = false;
    }
  }
  async function loadRuns() {
    try {
      const last = [...runs, ...earlierRuns].at(-1).id;
      const page = await get(`${base}/runs`, { limit: 10, after: last });
      earlierRuns = [...earlierRuns, ...page.data];
      moreRuns = page.has_more;
      draw();
    } catch (error) {
      replace(status, failure(error));
    }
  }

  take(first);
  older = first.has_more;
  runs = latest.data;
  moreRuns = latest.has_more;
  await readSteps(runsOnScreen());
  draw();

  // Following: the latest runs; when one is active or has changed, the newest messages and its steps.
  let seen = new Map(runs.map((r) => [r.id, r.status]));
  let failing = false;
  await follow(token, () => (runs.some((r) => ACTIVE.has(r.status)) ? 1000 : 3000), async () => {
    const now = await get(`${base}/runs`, { limit: 10 });
    const changed = new Set(now.data.filter((r) => ACTIVE.has(r.status) || seen.get(r.id) !== r.status).map((r) => r.id));
    runs = now.data;
    seen = new Map(runs.map((r) => [r.id, r.status]));
    if (!changed.size && !failing) return true;
    failing = false;
    take(await get(`${base}/messages`, { limit: PAGE, order: "desc" }));
    await readSteps(runsOnScreen().filter((r) => changed.has(r)), changed);
    draw();
    return true;
  }, (error) => { failing = true; trying(status)(error); });
}

const DOING = { queued: "is queued", in_progress: "is in progress", requires_action: "is waiting for tool outputs",
  cancelling: "is being cancelled" };

function runTable(threadId, runs) {
  return table(["Run", "Status", "Assistant", "Created"], runs.map((r) => [
    link(`#/threads/${threadId}/runs/${r.id}`, r.id), badge(r.status),
    link(`#/assistants/${r.assistant_id}`, r.assistant_id), when(r.created_at)]));
}

// -- runs -----------------------------------------------------------------------------------------
export async function runPage(threadId, runId, token) {
  const base = path`threads/${threadId}/runs/${runId}`;
  const note = h("p", { role: "status", class: "live" });
  let shown = "";
  async function read() {
    const [run, steps] = await Promise.all([get(base),
      get(`${base}/steps`, { limit: 100, order: "asc", "include[]": [FILE_SEARCH_CONTENT] })]);
    note.textContent = "";
    const now = JSON.stringify([run, steps.data]);
    if (now !== shown) { // drawn again only when something changed: the focus and selection stay
      shown = now;
      screen(token, ...runView(run, steps.data), note);
    }
    return ACTIVE.has(run.status);
  }
  if (await read()) await follow(token, () => 1000, read, trying(note));
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
export async function filePage(id, token) {
  const f = await get(path`files/${id}`);
  screen(token,
    h("h1", { tabindex: "-1" }, f.filename),
    fields([["ID", f.id], ["Purpose", f.purpose], ["Size", bytes(f.bytes)], ["Created", when(f.created_at)],
      ["Status", f.status], ["Expires", f.expires_at ? when(f.expires_at) : undefined]]),
    h("p", {}, h("button", { type: "button", onclick: () => download(f.id, f.filename) }, "Download")));
}

export async function vectorStorePage(id, token) {
  const base = path`vector_stores/${id}`;
  const v = await get(base);
  const results = h("div", { "aria-live": "polite" });
  const query = h("input", { id: "search-query", type: "search", required: true, autocomplete: "off" });
  async function search(event) {
    event.preventDefault();
    replace(results, h("p", { class: "muted" }, "Searching…"));
    try {
      const found = await post(`${base}/search`, { query: query.value, max_num_results: 10 });
      replace(results, found.data.length ? h("ol", { class: "results" }, found.data.map((r) => h("li", {},
        link(`#/files/${r.file_id}`, r.filename || r.file_id), h("span", { class: "muted" }, ` · score ${r.score.toFixed(3)}`),
        r.content.map((c) => h("p", { class: "excerpt" }, c.text))))) : h("p", {}, "Nothing found."));
    } catch (error) {
      replace(results, failure(error));
    }
  }
  const files = h("tbody", {});
  const more = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => page() }, "More files");
  let after = null;
  async function page() {
    const found = await get(`${base}/files`, { limit: PAGE, after });
    files.append(...found.data.map((f) => row([link(`#/files/${f.id}`, f.id), badge(f.status), bytes(f.usage_bytes),
      f.last_error ? `${f.last_error.code}: ${f.last_error.message}` : "—"])));
    after = found.last_id;
    more.hidden = !found.has_more;
  }
  await page();
  screen(token,
    h("h1", { tabindex: "-1" }, v.name || v.id),
    fields([["ID", v.id], ["Status", badge(v.status)], ["Size", bytes(v.usage_bytes)],
      ["Files", `${v.file_counts.completed} ready, ${v.file_counts.in_progress} in progress, ${v.file_counts.failed} failed, `
        + `${v.file_counts.cancelled} cancelled`],
      ["Created", when(v.created_at)], ["Expires", v.expires_at ? when(v.expires_at) : "never"],
      ["Metadata", pairs(v.metadata)]]),
    h("h2", {}, "Search"),
    h("form", { class: "search", role: "search", onsubmit: search },
      h("label", { for: "search-query" }, "Search this vector store"), query, h("button", { type: "submit" }, "Search")),
    results,
    h("h2", {}, "Files"),
    files.children.length ? table(["File", "Status", "Size", "Error"], [], files) : h("p", {}, "No files."), more);
}
