// A Node app using the openai package against supercompat serve: create, a streamed run that asks
// for a tool, the tool round trip (streamed too), then the thread. Prints one JSON line per stage.
const OpenAI = require("openai");

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, maxRetries: 0 });
const print = (stage) => console.log(JSON.stringify(stage));
const weather = {
  type: "function",
  function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
};

async function main() {
  const assistant = await client.beta.assistants.create({ model: "gpt-4.1-mini", instructions: "Be brief.", tools: [weather] });
  const thread = await client.beta.threads.create({ messages: [{ role: "user", content: "Weather in Paris?" }] });
  print({ assistant: assistant.id, thread: thread.id });

  let stream = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id });
  const events = [];
  for await (const event of stream) events.push(event.event);
  let run = await stream.finalRun();
  const calls = run.required_action.submit_tool_outputs.tool_calls;
  print({ events, status: run.status, calls: calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]) });

  stream = client.beta.threads.runs.submitToolOutputsStream(run.id, {
    thread_id: thread.id,
    tool_outputs: calls.map((c) => ({ tool_call_id: c.id, output: "18C and sunny" })),
  });
  let text = "";
  stream.on("textDelta", (delta) => { text += delta.value; });
  run = await stream.finalRun();
  print({ status: run.status, text });

  const messages = await client.beta.threads.messages.list(thread.id, { order: "asc" });
  print({ messages: messages.data.map((m) => [m.role, m.content[0].text.value]) });
}

main().catch((error) => { console.error(String(error)); process.exit(1); });
