#!/usr/bin/env node
'use strict';
// Tiny launcher: check the Node version before loading code that needs it.
// CommonJS on purpose: Node 20's ESM loader costs ~15 ms at start-up, which
// alone would put `--help` over its budget (docs/architecture.md#start-up); ESM-only
// dependencies are loaded with import() where they are used.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 10)) {
  process.stderr.write(`error: ha-wordpress needs Node.js 20.10 or newer (this is ${process.versions.node}); install a current LTS from nodejs.org\n`);
  process.exit(1);
}
// `ha-wordpress --help | head` closes the pipe early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}
// --version and the top-level --help need no code: the version comes from
// package.json, the help text was rendered by commander itself at build
// time (scripts/render-help.cjs; test/cli.test.ts checks it matches).
const args = process.argv.slice(2);
const fs = require('node:fs');
const path = require('node:path');
let served = false;
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${require('../package.json').version}\n`);
  served = true;
} else if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) {
  try {
    process.stdout.write(fs.readFileSync(path.join(__dirname, '..', 'dist', 'root-help.txt'), 'utf8'));
    served = true;
  } catch {
    // not built with the help text: commander renders it below
  }
}
if (!served) require('../dist/cli.js').main(process.argv);
