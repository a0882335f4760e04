// `vkllm serve` from real clients (run by tests/test_serve.py):
//   1. the official `openai` npm client: chat with and without streaming,
//      completions, models; the greedy answers equal what curl got;
//   2. the chat page at / in headless Chromium (Debian's, driven by
//      playwright-core): a message typed and sent, the streamed answer
//      appears (equal to the greedy answer), a screenshot is saved.
// usage: node serve_clients.cjs NODE_MODULES_DIR SERVER_URL EXPECT_JSON
"use strict";
const path = require("path");
const [nodeModules, url, expectJson] = process.argv.slice(2);
const expect = JSON.parse(expectJson);
const OpenAI = require(path.join(nodeModules, "openai")).OpenAI;
const { chromium } = require(path.join(nodeModules, "playwright-core"));

let fails = 0;
function check(cond, what, detail) {
  if (cond) console.log("ok   " + what);
  else {
    fails++;
    console.log("FAIL " + what + (detail !== undefined ? ": " + JSON.stringify(detail) : ""));
  }
}

async function openaiClient() {
  const client = new OpenAI({ baseURL: url + "/v1", apiKey: "not-needed", maxRetries: 0, timeout: 60000 });
  const models = await client.models.list();
  check(models.data.length === 1 && models.data[0].object === "model", "openai: models.list", models.data);
  const one = await client.models.retrieve(models.data[0].id);
  check(one.id === models.data[0].id && one.object === "model", "openai: models.retrieve", one);

  const msgs = [{ role: "user", content: expect.prompt }];
  const r = await client.chat.completions.create({ model: models.data[0].id, messages: msgs, max_tokens: 16,
                                                   temperature: 0 });
  check(r.choices[0].message.content === expect.chat && r.choices[0].finish_reason === "length" &&
        r.usage.completion_tokens === 16, "openai: chat.completions.create", r);

  const stream = await client.chat.completions.create({ model: "x", messages: msgs, max_tokens: 16, temperature: 0,
                                                        stream: true, stream_options: { include_usage: true } });
  let text = "", finish = null, usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta.content || "";
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  check(text === expect.chat && finish === "length" && usage && usage.completion_tokens === 16,
        "openai: chat stream", { text, finish, usage });

  const c = await client.completions.create({ model: "x", prompt: expect.completion_prompt, max_tokens: 10,
                                              temperature: 0 });
  check(c.choices[0].text === expect.completion, "openai: completions.create", c);

  try {
    await client.chat.completions.create({ model: "x", messages: [], max_tokens: 2 });
    check(false, "openai: an empty messages list is refused");
  } catch (e) {
    check(e.status === 400 && e.code === "invalid_value" && e.param === "messages",
          "openai: an empty messages list is an APIError 400 with code and param", { status: e.status, code: e.code });
  }
}

async function page() {
  const browser = await chromium.launch({ executablePath: expect.chromium, headless: true,
                                          args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const p = await browser.newPage();
    const errors = [];
    p.on("pageerror", (e) => errors.push(String(e)));
    p.on("requestfailed", (r) => errors.push("request failed: " + r.url()));
    await p.goto(url + "/");
    await p.waitForFunction(() => document.getElementById("model").textContent.includes("tokens"), null,
                            { timeout: 20000 });
    await p.fill("#temp", "0");
    await p.fill("#max", "64");
    await p.fill("#input", expect.page_prompt);
    // watch the answer grow: more than one distinct partial text means it streamed
    await p.evaluate(() => {
      window.__seen = new Set();
      new MutationObserver(() => {
        const a = document.getElementById("answer-1");
        if (a && a.firstChild && a.firstChild.nodeType === 3) window.__seen.add(a.firstChild.textContent);
      }).observe(document.getElementById("log"), { subtree: true, childList: true, characterData: true });
    });
    await p.press("#input", "Enter");
    await p.waitForSelector("#done-2", { timeout: 30000 });
    const answer = await p.evaluate(() => document.getElementById("answer-1").firstChild.textContent);
    const seen = await p.evaluate(() => window.__seen.size);
    const meta = await p.textContent("#done-2");
    check(answer === expect.page_answer, "page: the streamed answer appears", { answer, want: expect.page_answer });
    check(seen > 1, `page: the answer arrived in pieces (streamed: ${seen} partial texts seen)`, seen);
    check(/finish: length, \d+ prompt \+ 64 generated tokens/.test(meta), "page: finish reason and usage shown", meta);
    check(errors.length === 0, "page: no script errors", errors);
    await p.screenshot({ path: expect.screenshot, fullPage: true });
  } finally {
    await browser.close();
  }
}

(async () => {
  try {
    await openaiClient();
  } catch (e) {
    check(false, "openai client", String(e && e.stack || e));
  }
  try {
    await page();
  } catch (e) {
    check(false, "chat page in Chromium", String(e && e.stack || e));
  }
  process.exit(fails ? 1 : 0);
})();
