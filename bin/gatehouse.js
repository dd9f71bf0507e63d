#!/usr/bin/env node
'use strict';
// Shim: the command is written in TypeScript (bin/cli.ts) and built into dist/ by `npm run build` (scripts/setup.sh).
const path = require('node:path');
const built = path.join(__dirname, '..', 'dist', 'bin', 'cli.js');
let cli;
try {
  cli = require(built);
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(built)) {
    process.stderr.write('gatehouse: not built yet; run `bash scripts/setup.sh` (or `npm run build`) first\n');
    process.exit(1);
  }
  throw e;
}
cli.buildProgram()
  .parseAsync(process.argv)
  .catch((e) => {
    process.stderr.write(`gatehouse: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
