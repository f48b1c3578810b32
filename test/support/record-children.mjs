// Loaded with `node --import` by test/support/cli.ts: records the argv of
// every child process the CLI starts (one JSON array per line), so tests can
// prove that no secret is ever passed on a command line.
import childProcess from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const file = process.env.HA_WORDPRESS_RECORD_CHILDREN;
if (file) {
  const record = (argv) => appendFileSync(file, JSON.stringify(argv.map(String)) + '\n');
  for (const name of ['spawn', 'spawnSync', 'execFile', 'execFileSync']) {
    const original = childProcess[name];
    childProcess[name] = function (command, args, ...rest) {
      record([command, ...(Array.isArray(args) ? args : [])]);
      return original.call(this, command, args, ...rest);
    };
  }
  for (const name of ['exec', 'execSync']) {
    const original = childProcess[name];
    childProcess[name] = function (command, ...rest) {
      record(['/bin/sh', '-c', command]);
      return original.call(this, command, ...rest);
    };
  }
  const originalFork = childProcess.fork;
  childProcess.fork = function (modulePath, args, ...rest) {
    record([process.execPath, modulePath, ...(Array.isArray(args) ? args : [])]);
    return originalFork.call(this, modulePath, args, ...rest);
  };
  syncBuiltinESMExports();
}
