#!/usr/bin/env node
// A stand-in for `ansible-playbook`, put first on PATH by the up tests (the
// roles need real hosts). It records argv, cwd and environment to
// $STANDIN_RECORD, reads the vault password the way ansible does (runs the
// --vault-password-file when it is executable, else reads it) and records
// only its SHA-256, reads the inventory it was given and prints a play with
// a PLAY RECAP for its hosts. STANDIN_ANSIBLE_FAIL=1 makes one host fail;
// STANDIN_ANSIBLE_FAIL=empty makes it fail with the galera role's refusal to
// start an empty site (its message's words, from refuse-empty.yml).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, appendFileSync, constants, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const argv = process.argv.slice(2);
const out = (s) => process.stdout.write(s + '\n');

if (argv[0] === '--version') {
  out('ansible-playbook [core 2.14.18]\n  config file = None\n  python version = 3.11.2\n  jinja version = 3.1.2\n  libyaml = True');
  process.exit(0);
}

const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

let passwordSha;
const pwFile = opt('--vault-password-file');
if (pwFile) {
  let text;
  try {
    accessSync(pwFile, constants.X_OK);
    const r = spawnSync(pwFile, [], { encoding: 'utf8', env: process.env });
    if (r.status !== 0) {
      process.stderr.write(`ERROR! Vault password script ${pwFile} returned non-zero (${r.status}): ${r.stderr}\n`);
      process.exit(1);
    }
    text = r.stdout;
  } catch {
    text = readFileSync(pwFile, 'utf8');
  }
  passwordSha = createHash('sha256').update(text.trim()).digest('hex');
}

if (process.env.STANDIN_RECORD)
  appendFileSync(process.env.STANDIN_RECORD, JSON.stringify({ tool: 'ansible-playbook', argv, cwd: process.cwd(), env: process.env, passwordSha }) + '\n');

const inventory = opt('-i');
const playbook = argv.find((a) => a.endsWith('.yml') && a !== inventory);
const require = createRequire(path.join(process.env.STANDIN_REPO ?? process.cwd(), 'package.json'));
const yaml = require('js-yaml');
const inv = yaml.load(readFileSync(path.resolve(inventory), 'utf8'));
const hosts = Object.values(inv.all.children).flatMap((g) => Object.keys(g.hosts ?? {}));
readFileSync(path.resolve(playbook)); // ansible: "the playbook could not be found"

out(`\nPLAY [Every node: base system] ${'*'.repeat(40)}\n`);
out(`TASK [Gathering Facts] ${'*'.repeat(40)}`);
for (const h of hosts) out(`ok: [${h}]`);
const failing = process.env.STANDIN_ANSIBLE_FAIL ? hosts[hosts.length - 1] : undefined;
out(`\nTASK [common : Install base packages] ${'*'.repeat(40)}`);
for (const h of hosts) {
  if (h === failing && process.env.STANDIN_ANSIBLE_FAIL === 'empty')
    // As real ansible-playbook prints it with ansible.cfg's callback_result_format = yaml:
    // PyYAML folds the message at 80 columns, so its words are split across lines.
    out(
      [
        `fatal: [${h}]: FAILED! => `,
        '    changed: false',
        "    msg: 'Every database node is empty, but this workspace''s cluster has held data: not",
        '      starting an empty site. The latest backup is 4f3a2b1c of 2026-12-01T10:00:00Z. Run',
        '      `ha-wordpress up --restore latest` (or --restore <id>) to bring the data back, or',
        "      `ha-wordpress up --allow-empty-database` to really start over.'",
      ].join('\n'),
    );
  else if (h === failing) out(`fatal: [${h}]: FAILED! => {"changed": false, "msg": "Failed to update apt cache: unknown reason"}`);
  else out(`changed: [${h}]`);
}
out(`\nPLAY RECAP ${'*'.repeat(40)}`);
for (const h of hosts)
  out(
    `${h.padEnd(26)}: ok=${h === failing ? 1 : 2}    changed=${h === failing ? 0 : 1}    unreachable=0    failed=${h === failing ? 1 : 0}    skipped=0    rescued=0    ignored=0`,
  );
process.exit(failing ? 2 : 0);
