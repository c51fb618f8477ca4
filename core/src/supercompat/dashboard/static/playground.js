// The playground: chat with an assistant in a thread, each run streamed as it happens; a run that
// calls a function waits for outputs typed here; a run in progress can be cancelled.

import { call, events, get, path, post } from "./api.js";
import { conversation, message, stepsOfRuns, toolCalls } from "./chat.js";
import { badge, code, h, link, replace } from "./dom.js";
import { ACTIVE, PAGE, alive, failure, follow, screen } from "./view.js";

export async function playground(params, token) {
  const assistants = (await get("assistants", { limit: 100 })).data;
  let assistantId = params.get("assistant") || assistants[0]?.id || "";
  let threadId = params.get("thread");
  let run = null;
  let streaming = false;
  let watching = false;

  const select = h("select", { id: "assistant", onchange: () => { assistantId = select.value; remember(); } },
    assistants.map((a) => h("option", { value: a.id, selected: a.id === assistantId }, `${a.name || a.id} (${a.model})`)));
  if (assistantId && !assistants.some((a) => a.id === assistantId)) {
    select.append(h("option", { value: assistantId, selected: true }, assistantId));
  }
  const threadLine = h("p", { class: "thread-line" });
  const chat = h("div", { class: "chat", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  const actions = h("div", { class: "actions" });
  const status = h("p", { role: "status", class: "live" });
  const input = h("textarea", { id: "message", rows: "3", required: true });
  const send = h("button", { type: "submit" }, "Send");
  const cancel = h("button", { type: "button", class: "danger", disabled: true, onclick: () => cancelRun() }, "Cancel run");
  screen(token,
    h("h1", { tabindex: "-1" }, "Playground"),
    assistants.length ? null : h("p", { class: "error" }, "This project has no assistants yet: create one with the API first."),
    h("div", { class: "pick" }, h("label", { for: "assistant" }, "Assistant"), select),
    threadLine, chat, actions, status,
    h("form", {
      class: "compose",
      onsubmit: (event) => { event.preventDefault(); sendMessage(); },
      onkeydown: (event) => { if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) sendMessage(); },
    }, h("label", { for: "message" }, "Message"), input, h("div", { class: "buttons" }, send, cancel)));

  function remember() {
    const query = new URLSearchParams();
    if (assistantId) query.set("assistant", assistantId);
    if (threadId) query.set("thread", threadId);
    history.replaceState(null, "", `#/playground?${query}`);
  }

  function drawThreadLine() {
    replace(threadLine, threadId
      ? ["Thread ", link(`#/threads/${threadId}`, threadId), " ",
        h("button", { type: "button", class: "secondary", onclick: () => startOver() }, "New thread")]
      : "A new thread starts with your first message.");
  }

  function startOver() {
    threadId = null;
    setRun(null);
    replace(chat);
    replace(actions);
    remember();
    drawThreadLine();
    input.focus();
  }

  function setRun(next) {
    run = next;
    const active = Boolean(run && ACTIVE.has(run.status));
    cancel.disabled = !active || run.status === "cancelling";
    send.disabled = active;
    if (!run) { replace(status); return; }
    replace(status, "Run ", link(`#/threads/${run.thread_id}/runs/${run.id}`, run.id), " ", badge(run.status));
    if (run.last_error) status.append(h("span", { class: "error-text" }, ` ${run.last_error.message}`));
    if (run.status === "requires_action") askForOutputs(run);
    else replace(actions);
  }

  // The run waits for its function calls' outputs: a field for each, sent together.
  function askForOutputs(waiting) {
    const calls = waiting.required_action.submit_tool_outputs.tool_calls;
    const outputs = calls.map((c) => h("textarea", { id: `output-${c.id}`, rows: "2" }));
    replace(actions, h("form", {
      class: "tool-outputs",
      onsubmit: async (event) => {
        event.preventDefault();
        const body = { tool_outputs: calls.map((c, i) => ({ tool_call_id: c.id, output: outputs[i].value })), stream: true };
        replace(actions);
        await streamed(() => call("POST", path`threads/${threadId}/runs/${waiting.id}/submit_tool_outputs`, { body }));
      },
    },
    h("h2", {}, "The run needs tool outputs"),
    calls.map((c, i) => h("fieldset", {},
      h("legend", {}, c.function.name),
      h("p", {}, "Arguments"), code(c.function.arguments, `Arguments of ${c.function.name}`),
      h("label", { for: outputs[i].id }, `Output of ${c.function.name}`), outputs[i])),
    h("button", { type: "submit" }, "Submit tool outputs")));
    outputs[0]?.focus();
  }

  async function sendMessage() {
    const content = input.value.trim();
    if (!content || !assistantId || send.disabled) return;
    send.disabled = true;
    try {
      if (threadId) {
        chat.append(message(await post(path`threads/${threadId}/messages`, { role: "user", content })));
      } else {
        const thread = await post("threads", { messages: [{ role: "user", content }] });
        threadId = thread.id;
        remember();
        drawThreadLine();
        chat.append(message({ id: "", thread_id: thread.id, role: "user", created_at: thread.created_at,
          content: [{ type: "text", text: { value: content, annotations: [] } }] }));
      }
      input.value = "";
      await streamed(() => call("POST", path`threads/${threadId}/runs`, { body: { assistant_id: assistantId, stream: true } }));
    } catch (error) {
      replace(actions, failure(error));
    } finally {
      send.disabled = Boolean(run && ACTIVE.has(run.status));
    }
  }

  // One streamed response: the run's status, its messages as their text arrives, its tool calls.
  async function streamed(request) {
    streaming = true;
    const messages = new Map();
    const steps = new Map();
    try {
      for await (const { event, data } of events(await request())) {
        if (!alive(token)) return;
        if (event.startsWith("thread.run.step.")) step(event, data, steps);
        else if (event.startsWith("thread.run.")) setRun(data);
        else if (event === "thread.message.delta") grow(messages.get(data.id), data.delta);
        else if (event.startsWith("thread.message.")) {
          const el = message(data);
          if (messages.has(data.id)) messages.get(data.id).replaceWith(el);
          else chat.append(el);
          messages.set(data.id, el);
        } else if (event === "error") {
          replace(actions, failure(new Error(data.error?.message || data.message || "The stream failed.")));
        }
      }
    } catch (error) {
      replace(actions, failure(error));
    } finally {
      streaming = false;
    }
    // A stream that ended before its run did (a dropped connection): follow the run from here.
    if (alive(token) && run && ACTIVE.has(run.status) && run.status !== "requires_action") await watch();
  }

  function grow(el, delta) {
    if (!el) return;
    const content = el.querySelector(".content");
    for (const part of delta.content || []) {
      if (part.type !== "text" || !part.text?.value) continue;
      let box = content.querySelector(`[data-part="${part.index}"]`);
      if (!box) {
        content.querySelector(".writing")?.remove();
        box = h("div", { class: "text", "data-part": String(part.index) });
        content.append(box);
      }
      box.append(part.text.value);
    }
  }

  function step(event, data, steps) {
    if (event === "thread.run.step.delta") {
      const known = steps.get(data.id);
      if (!known) return;
      for (const d of data.delta.step_details?.tool_calls || []) {
        const calls = known.step.step_details.tool_calls;
        const c = calls[d.index] || (calls[d.index] = { id: d.id, type: d.type, [d.type]: {} });
        const into = c[d.type] || (c[d.type] = {});
        for (const [key, value] of Object.entries(d[d.type] || {})) {
          into[key] = typeof value === "string" && (key === "arguments" || key === "input") ? (into[key] || "") + value : value;
        }
      }
      const el = toolCalls(known.step);
      known.el.replaceWith(el);
      known.el = el;
      return;
    }
    if (data.step_details.type !== "tool_calls") return;
    const stepCopy = structuredClone(data);
    const el = toolCalls(stepCopy);
    if (steps.has(data.id)) steps.get(data.id).el.replaceWith(el);
    else chat.append(el);
    steps.set(data.id, { step: stepCopy, el });
  }

  async function cancelRun() {
    if (!run) return;
    cancel.disabled = true;
    try {
      setRun(await post(path`threads/${run.thread_id}/runs/${run.id}/cancel`));
      if (!streaming) await watch(); // a stream open on the run reports its end itself
    } catch (error) {
      replace(actions, failure(error));
    }
  }

  // A run this page isn't streaming (begun before it was opened, cancelled while waiting, or whose
  // stream broke): its status each second until it ends, then the conversation as stored.
  async function watch() {
    if (watching) return;
    watching = true;
    try {
      const following = () => run && ACTIVE.has(run.status) && run.status !== "requires_action" && !streaming;
      await follow(token, () => 1000, async () => {
        if (following()) setRun(await get(path`threads/${run.thread_id}/runs/${run.id}`));
        return following();
      }, (error) => replace(actions, failure(error)));
      if (alive(token) && !streaming) await load();
    } catch (error) {
      if (alive(token)) replace(actions, failure(error));
    } finally {
      watching = false;
    }
  }

  async function load() {
    if (!threadId) return;
    const [page, runs] = await Promise.all([get(path`threads/${threadId}/messages`, { limit: PAGE, order: "desc" }),
      get(path`threads/${threadId}/runs`, { limit: 1 })]);
    const ordered = page.data.reverse();
    const steps = await stepsOfRuns(threadId, ordered.map((m) => m.run_id));
    replace(chat, page.has_more ? h("p", { class: "muted" }, "Earlier messages are on the ",
      link(`#/threads/${threadId}`, "thread's page"), ".") : null, conversation(ordered, steps));
    setRun(runs.data[0] || null);
  }

  drawThreadLine();
  await load();
  if (run && ACTIVE.has(run.status)) await watch();
}
