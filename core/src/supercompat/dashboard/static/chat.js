// A thread's conversation as chat: messages, and between them the tool calls of the runs that made
// them (arguments and outputs), images, and citations linked to their files.

import { fileBlob, get, limited, path } from "./api.js";
import { code, h, when } from "./dom.js";

export const FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content";

// The steps of these runs of a thread (one call a run, 6 at once: a browser's connections to one
// server over HTTP/1.1): run id -> steps, oldest first.
export async function stepsOfRuns(threadId, runIds) {
  const ids = [...new Set(runIds)].filter(Boolean);
  const pages = await limited(ids.map((r) => () => get(path`threads/${threadId}/runs/${r}/steps`,
    { limit: 100, order: "asc", "include[]": [FILE_SEARCH_CONTENT] })), 6);
  return new Map(ids.map((r, i) => [r, pages[i].data]));
}

// Messages (oldest first) and the steps of their runs (run id -> steps, oldest first): each run's
// steps are shown where its first message is, in the order the run took them. `runs` without a
// message here (waiting for tool outputs, failed or cancelled after calling tools) show their tool
// calls where they began.
export function conversation(messages, stepsByRun, runs = []) {
  const byId = new Map(messages.map((m) => [m.id, m]));
  const written = new Set(messages.map((m) => m.run_id));
  const silent = runs.filter((r) => !written.has(r.id) && stepsByRun.has(r.id))
    .sort((a, b) => a.created_at - b.created_at);
  const shown = new Set();
  const expanded = new Set();
  const out = [];
  const show = (m) => { if (m && !shown.has(m.id)) { shown.add(m.id); out.push(message(m)); } };
  const calls = (run) => {
    for (const step of stepsByRun.get(run.id)) if (step.step_details.type === "tool_calls") out.push(toolCalls(step));
  };
  for (const m of messages) {
    while (silent.length && silent[0].created_at < m.created_at) calls(silent.shift());
    const steps = m.run_id && !expanded.has(m.run_id) && stepsByRun.get(m.run_id);
    if (steps) {
      expanded.add(m.run_id);
      for (const step of steps) {
        if (step.step_details.type === "tool_calls") out.push(toolCalls(step));
        else show(byId.get(step.step_details.message_creation.message_id));
      }
    }
    show(m);
  }
  silent.forEach(calls);
  return out;
}

export function message(m) {
  const role = m.role === "user" ? "user" : "assistant";
  const article = h("article", { class: `message ${role}`, "data-message-id": m.id, "aria-label": `${role} message` },
    h("header", {},
      h("strong", {}, role === "user" ? "User" : "Assistant"),
      h("span", { class: "muted" }, ` · ${when(m.created_at)}`),
      m.status && m.status !== "completed" ? h("span", { class: "muted" }, ` · ${m.status}`) : null,
      m.run_id ? [h("span", { class: "muted" }, " · "),
        h("a", { href: `#/threads/${m.thread_id}/runs/${m.run_id}` }, m.run_id)] : null),
    h("div", { class: "content" }, (m.content || []).map(part),
      // Stored when it ends: the playground shows a message's text as it streams, this page at its end.
      m.status === "in_progress" && !(m.content || []).length ? h("p", { class: "muted writing" }, "Writing…") : null),
    (m.attachments || []).length ? h("p", { class: "attachments" }, "Attached: ",
      m.attachments.map((a, i) => [i ? ", " : "", h("a", { href: `#/files/${a.file_id}` }, a.file_id)])) : null);
  return article;
}

function part(p) {
  if (p.type === "text") return text(p.text);
  if (p.type === "image_file") return image(p.image_file.file_id);
  if (p.type === "image_url") {
    // Another origin's image is not loaded (the page's policy): its address is shown instead, as a
    // link only if it is a web address (the API takes any string: never a javascript: link).
    const address = p.image_url.url;
    const web = /^https?:\/\//i.test(address);
    return h("p", { class: "muted" }, "Image: ", web
      ? h("a", { href: address, rel: "noreferrer noopener", target: "_blank" }, address.slice(0, 120))
      : h("code", {}, address.slice(0, 120)));
  }
  if (p.type === "refusal") return h("p", { class: "refusal" }, `Refused: ${p.refusal}`);
  return code(p, p.type);
}

// Text with its annotations: a citation becomes a numbered link to its file, a file path a download.
export function text(t) {
  const div = h("div", { class: "text" });
  const notes = [...(t.annotations || [])].sort((a, b) => a.start_index - b.start_index);
  const sources = [];
  let at = 0;
  for (const note of notes) {
    if (note.start_index < at) continue;
    div.append(t.value.slice(at, note.start_index));
    if (note.type === "file_citation") {
      const id = note.file_citation.file_id;
      let n = sources.indexOf(id) + 1;
      if (!n) n = sources.push(id);
      div.append(h("a", { class: "citation", href: `#/files/${id}`, title: `Cited from ${id}` }, `[${n}]`));
    } else if (note.type === "file_path") {
      div.append(downloadLink(note.file_path.file_id, note.text.split("/").pop() || note.file_path.file_id));
    } else {
      div.append(note.text);
    }
    at = note.end_index;
  }
  div.append(t.value.slice(at));
  if (sources.length) {
    div.append(h("ol", { class: "sources", "aria-label": "Sources" },
      sources.map((id) => h("li", {}, h("a", { href: `#/files/${id}` }, id)))));
  }
  return div;
}

// Each image file is fetched once for the page, however often the conversation is drawn again.
const images = new Map(); // file id -> promise of an object URL

export function forgetImages() {
  for (const loading of images.values()) loading.then((src) => URL.revokeObjectURL(src), () => {});
  images.clear();
}

function image(fileId) {
  const img = h("img", { class: "image", alt: `Image file ${fileId}` });
  if (!images.has(fileId)) images.set(fileId, fileBlob(fileId));
  images.get(fileId).then((src) => { img.src = src; }, () => {
    images.delete(fileId);
    img.replaceWith(h("span", { class: "muted" }, `(image ${fileId} could not be loaded)`));
  });
  return h("a", { href: `#/files/${fileId}` }, img);
}

export function downloadLink(fileId, name) {
  return h("a", {
    href: `#/files/${fileId}`, class: "download",
    onclick: (event) => { event.preventDefault(); download(fileId, name); },
  }, name);
}

export async function download(fileId, name) {
  const href = await fileBlob(fileId);
  const a = h("a", { href, download: name || fileId });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}

export function toolCalls(step) {
  return h("section", { class: "tool-calls", "data-step-id": step.id, "aria-label": "Tool calls" },
    h("p", { class: "muted" }, `Tool calls · ${step.status}`),
    step.step_details.tool_calls.map(toolCall));
}

export function toolCall(c) {
  if (c.type === "function") {
    return h("div", { class: "tool-call", "data-call-id": c.id },
      h("h3", {}, c.function.name),
      h("h4", {}, "Arguments"), code(c.function.arguments, `Arguments of ${c.function.name}`),
      h("h4", {}, "Output"),
      c.function.output === null || c.function.output === undefined
        ? h("p", { class: "muted" }, "No output yet.")
        : code(c.function.output, `Output of ${c.function.name}`));
  }
  if (c.type === "code_interpreter") {
    const ci = c.code_interpreter;
    return h("div", { class: "tool-call", "data-call-id": c.id },
      h("h3", {}, "code_interpreter"),
      h("h4", {}, "Input"), h("pre", { class: "code", tabindex: "0", "aria-label": "Code" }, ci.input || ""),
      (ci.outputs || []).length ? h("h4", {}, "Outputs") : null,
      (ci.outputs || []).map((o) => (o.type === "logs"
        ? h("pre", { class: "code", tabindex: "0", "aria-label": "Logs" }, o.logs)
        : image(o.image.file_id))));
  }
  if (c.type === "file_search") {
    const results = c.file_search?.results || [];
    return h("div", { class: "tool-call", "data-call-id": c.id },
      h("h3", {}, "file_search"),
      results.length ? h("ol", { class: "results" }, results.map((r) => h("li", {},
        h("a", { href: `#/files/${r.file_id}` }, r.file_name || r.file_id),
        h("span", { class: "muted" }, ` · score ${Number(r.score).toFixed(3)}`),
        (r.content || []).map((c2) => h("p", { class: "excerpt" }, c2.text)))))
        : h("p", { class: "muted" }, "Searched the vector stores."));
  }
  return h("div", { class: "tool-call" }, h("h3", {}, c.type), code(c));
}
