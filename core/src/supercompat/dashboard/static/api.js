// The API under /v1, called with the key of this browser tab's session (sessionStorage: gone when
// the tab closes, never in a URL). Every object the dashboard shows comes through here.

const KEY = "supercompat.key";
const BASE = new URL("../v1/", location.href); // the page is /ui/: relative, so a path prefix works

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) {
    if (value === null) sessionStorage.removeItem(KEY);
    else sessionStorage.setItem(KEY, value);
  },
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `The server answered ${status}.`);
    this.status = status;
    this.code = body?.error?.code || null;
  }
}

// An API path with each interpolated id encoded: path`threads/${id}/runs` (an id from the page's
// address can't reach another endpoint: "../assistants" stays one path segment).
export function path(strings, ...ids) {
  return strings.reduce((out, part, i) => out + part + (i < ids.length ? segment(ids[i]) : ""), "");
}

function segment(id) {
  const text = String(id);
  if (text === "" || text === "." || text === "..") throw new Error(`Not an id: "${text}".`); // URLs resolve dots
  return encodeURIComponent(text);
}

export function url(endpoint, query = {}) {
  const target = new URL(endpoint.replace(/^\//, ""), BASE);
  for (const [name, value] of Object.entries(query)) {
    if (Array.isArray(value)) value.forEach((v) => target.searchParams.append(name, v));
    else if (value !== undefined && value !== null && value !== "") target.searchParams.set(name, value);
  }
  return target;
}

export async function call(method, endpoint, { body, query, signal } = {}) {
  const headers = { "OpenAI-Beta": "assistants=v2" };
  if (session.key) headers.Authorization = `Bearer ${session.key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url(endpoint, query), {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let error = null;
    try { error = await response.json(); } catch { /* not JSON: the status says enough */ }
    throw new ApiError(response.status, error);
  }
  return response;
}

export const get = async (endpoint, query, signal) => (await call("GET", endpoint, { query, signal })).json();
export const post = async (endpoint, body = {}) => (await call("POST", endpoint, { body })).json();

// A file's bytes as an object URL (images, downloads): fetched with the key, as links can't send it.
export async function fileBlob(fileId) {
  const response = await call("GET", path`files/${fileId}/content`);
  return URL.createObjectURL(await response.blob());
}

// The server-sent events of a streamed run, parsed: {event, data}, until the stream's end.
// A consumer that stops early (its page left) closes the connection; the run goes on.
export async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    yield* frames(reader);
  } finally {
    reader.cancel().catch(() => {});
  }
}

async function* frames(reader) {
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      const text = data.join("\n");
      if (text === "[DONE]") return;
      if (text) yield { event, data: JSON.parse(text) };
    }
  }
}

// Runs at most `limit` of `tasks` (functions returning promises) at once; their results in order.
export async function limited(tasks, limit = 4) {
  const results = new Array(tasks.length);
  let next = 0;
  async function worker() {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}
