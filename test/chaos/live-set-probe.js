/**
 * Test-only preload for the soak (`node --require …/live-set-probe.js`): every GATEHOUSE_LIVESET_MS it runs a full
 * garbage collection in the proxy and appends what is still alive to GATEHOUSE_LIVESET_FILE, one JSON line each:
 * `{ at, heapUsed, external, arrayBuffers, rss }` (bytes; `at` ms since the epoch).
 *
 * Why: in a 2-minute run RSS mostly shows V8 growing and shrinking its heap (tens of MB between full collections),
 * which hides a leak of a few MB/min in either direction. The live set after a full collection is what a leak grows.
 * Loaded only in the proxy process the soak starts; nothing in Gatehouse knows about it.
 */
'use strict';
const file = process.env.GATEHOUSE_LIVESET_FILE;
if (file && process.argv.includes('serve')) {
  const { appendFileSync } = require('node:fs');
  const v8 = require('node:v8');
  const vm = require('node:vm');
  // `--expose-gc` is not accepted in NODE_OPTIONS on Node 20; set at run time, it exposes gc() to new contexts.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const every = Number(process.env.GATEHOUSE_LIVESET_MS || 2000);
  setInterval(() => {
    gc();
    const m = process.memoryUsage();
    appendFileSync(file, JSON.stringify({ at: Date.now(), heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss }) + '\n');
  }, every).unref();
}
