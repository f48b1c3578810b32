#!/usr/bin/env node
// Tiny launcher: check the Node version before loading code that needs it.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 10)) {
  process.stderr.write(`error: ha-wordpress needs Node.js 20.10 or newer (this is ${process.versions.node}); install a current LTS from nodejs.org\n`);
  process.exit(1);
}
const { main } = await import('../dist/cli.js');
await main(process.argv);
