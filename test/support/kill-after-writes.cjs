/**
 * Preloaded into the CLI (NODE_OPTIONS=--require) by the interruption tests:
 * counts every file-system change the process makes and SIGKILLs the
 * process right after the Nth one (HAWP_KILL_AFTER_WRITES=N), the harshest
 * interruption there is. With HAWP_COUNT_WRITES=<file>, writes the count
 * there at exit instead, so a test knows how many points to try.
 */
'use strict';
/* global require, process */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fs = require('node:fs');

const limit = Number(process.env.HAWP_KILL_AFTER_WRITES || 0);
const countFile = process.env.HAWP_COUNT_WRITES;
let n = 0;
const tick = () => {
  n++;
  if (limit && n >= limit) process.kill(process.pid, 'SIGKILL');
};
const writes = (flags) => typeof flags === 'string' && /[wa+]/.test(flags);

for (const name of ['writeFile', 'appendFile', 'rename', 'mkdir', 'rm', 'rmdir', 'unlink', 'symlink', 'copyFile', 'chmod', 'open']) {
  const orig = fs.promises[name];
  fs.promises[name] = async function (...args) {
    const r = await orig.apply(this, args);
    if (name !== 'open' || writes(args[1])) tick();
    return r;
  };
}
for (const name of [
  'writeFileSync',
  'appendFileSync',
  'renameSync',
  'mkdirSync',
  'rmSync',
  'unlinkSync',
  'symlinkSync',
  'copyFileSync',
  'chmodSync',
  'openSync',
]) {
  const orig = fs[name];
  fs[name] = function (...args) {
    const r = orig.apply(this, args);
    if (name !== 'openSync' || writes(args[1])) tick();
    return r;
  };
}
if (countFile) process.on('exit', () => fs.writeFileSync.call(fs, countFile, String(n)));
