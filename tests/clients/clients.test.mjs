// riglm serve driven by the official `openai` and `ollama` npm clients: streaming and not, chat
// and completion, and greedy /v1/completions equal to `riglm run`. Run by ctest; needs
// RIGLM_BINARY and the shared models (RIGLM_SHARED_DIR, default ../shared beside the repo).
import { spawn, execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { Ollama } from 'ollama';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.RIGLM_BINARY ?? path.join(here, '../../build/release/riglm');
const shared = process.env.RIGLM_SHARED_DIR || process.env.RIGLM_SHARED_DIR_DEFAULT || path.join(here, '../../../shared');
const model = path.join(shared, 'models/stories260K.gguf');

const freePort = () => new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

const port = await freePort();
const server = spawn(binary, ['serve', '-m', model, '--port', String(port), '--parallel', '4', '-c', '512'],
                     { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
server.stderr.on('data', (d) => { log += d; });
const stop = () => { try { server.kill('SIGTERM'); } catch {} };
process.on('exit', stop);
for (let i = 0; i < 100 && !log.includes('serving'); i++) await new Promise((r) => setTimeout(r, 50));
assert.ok(log.includes('serving'), 'the server did not start: ' + log);

const base = `http://127.0.0.1:${port}`;
const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused' });
const ollama = new Ollama({ host: base });
let passed = 0;
const check = async (name, fn) => { await fn(); passed++; console.log(`ok - ${name}`); };

const prompt = 'Once upon a time';
const run = execFileSync(binary, ['run', '-m', model, '-p', prompt, '-n', '40', '--temp', '0'],
                         { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
const runContinuation = run.slice(prompt.length).replace(/\n$/, '');

await check('openai completions, greedy, equals riglm run', async () => {
  const r = await openai.completions.create({ model: 'stories260K', prompt, max_tokens: 40, temperature: 0 });
  assert.equal(r.choices[0].text, runContinuation);
  assert.equal(r.usage.completion_tokens, 40);
  assert.equal(r.choices[0].finish_reason, 'length');
});

await check('openai completions, streaming, equals riglm run', async () => {
  const stream = await openai.completions.create({ model: 'stories260K', prompt, max_tokens: 40, temperature: 0, stream: true,
                                                   stream_options: { include_usage: true } });
  let text = '', usage = null;
  for await (const chunk of stream) {
    if (chunk.choices.length) text += chunk.choices[0].text;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, runContinuation);
  assert.equal(usage.completion_tokens, 40);
});

await check('openai logprobs, completion and chat', async () => {
  const r = await openai.completions.create({ model: 'stories260K', prompt, max_tokens: 8, temperature: 0, logprobs: 2 });
  assert.equal(r.choices[0].logprobs.tokens.join(''), r.choices[0].text);
  assert.ok(r.choices[0].logprobs.token_logprobs.every((v) => v <= 0));
  const c = await openai.chat.completions.create({ model: 'stories260K', messages: [{ role: 'user', content: 'hi' }],
                                                   max_tokens: 5, logprobs: true, top_logprobs: 2 });
  assert.equal(c.choices[0].logprobs.content.length, 5);
  assert.equal(c.choices[0].logprobs.content[0].top_logprobs.length, 2);
});

await check('openai chat, streaming and not', async () => {
  const messages = [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'A story about a cat' }];
  const whole = await openai.chat.completions.create({ model: 'stories260K', messages, max_tokens: 30, temperature: 0 });
  assert.equal(whole.choices[0].message.role, 'assistant');
  assert.ok(whole.choices[0].message.content.length > 0);
  const stream = await openai.chat.completions.create({ model: 'stories260K', messages, max_tokens: 30, temperature: 0, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(text, whole.choices[0].message.content);
});

await check('openai models and errors', async () => {
  const models = await openai.models.list();
  assert.equal(models.data[0].id, 'stories260K');
  await assert.rejects(openai.completions.create({ model: 'nope', prompt: 'hi' }), (e) => e.status === 404);
  await assert.rejects(openai.completions.create({ model: 'stories260K', prompt: 'hi', temperature: 7 }), (e) => e.status === 400);
});

await check('ollama generate, streaming and not', async () => {
  const options = { temperature: 0, num_predict: 40, repeat_penalty: 1.0 };
  const whole = await ollama.generate({ model: 'stories260K', prompt, options, stream: false });
  assert.equal(whole.response, runContinuation);
  assert.equal(whole.eval_count, 40);
  assert.ok(whole.eval_duration > 0 && whole.prompt_eval_count > 0);
  const parts = await ollama.generate({ model: 'stories260K', prompt, options, stream: true });
  let text = '', last = null;
  for await (const part of parts) { text += part.response; last = part; }
  assert.equal(text, runContinuation);
  assert.equal(last.done, true);
});

await check('ollama chat, list, show, ps, version', async () => {
  const r = await ollama.chat({ model: 'stories260K', messages: [{ role: 'user', content: 'hello' }], options: { num_predict: 10 } , stream: false });
  assert.equal(r.message.role, 'assistant');
  assert.equal(r.eval_count, 10);
  const list = await ollama.list();
  assert.equal(list.models[0].name, 'stories260K:latest');
  const show = await ollama.show({ model: 'stories260K' });
  assert.equal(show.details.format, 'gguf');
  const ps = await ollama.ps();
  assert.equal(ps.models.length, 1);
  await assert.rejects(ollama.generate({ model: 'nope', prompt: 'x', stream: false }));
});

stop();
console.log(`${passed} client checks passed`);
