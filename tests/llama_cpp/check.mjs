// llama.cpp (node-llama-cpp's prebuilt CPU build) opens a GGUF, tokenizes
// texts and generates greedily from token ids; prints one JSON line.
// usage: node check.mjs MODEL.gguf TEXTS.json PROMPT_IDS N_GREEDY
//   TEXTS.json: [{"text": "..."}, ...]; PROMPT_IDS: "1,22557,1526"
import { readFileSync } from "node:fs";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [, , modelPath, textsPath, promptIds, nGreedy] = process.argv;
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath });
const texts = JSON.parse(readFileSync(textsPath, "utf8")).map((c) => c.text);
const meta = model.fileInfo.metadata;
const out = {
    tokens: texts.map((t) => Array.from(model.tokenize(t, false))),
    bos: model.tokens.bos,
    eos: model.tokens.eos,
    file_type: meta.general?.file_type ?? null,
    template: meta.tokenizer?.chat_template ?? null,
    greedy: [],
};
const ctx = await model.createContext({ contextSize: 128 });
const seq = ctx.getSequence();
const prompt = promptIds.split(",").map(Number);
for await (const t of seq.evaluate(prompt, { temperature: 0 })) {
    out.greedy.push(t);
    if (out.greedy.length >= Number(nGreedy)) break;
}
// the next-token distribution after the prompt, untruncated (temperature 1, no top-k/p, no min-p)
const ctx2 = await model.createContext({ contextSize: 128 });
for await (const o of ctx2.getSequence().evaluateWithMetadata(prompt, { probabilities: true },
                                                               { temperature: 1, topK: 0, topP: 1, minP: 0 })) {
    out.probs = Array.from(o.probabilities.entries());
    break;
}
await ctx2.dispose();
console.log(JSON.stringify(out));
await ctx.dispose();
await model.dispose();
await llama.dispose();
