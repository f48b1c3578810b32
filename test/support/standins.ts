/**
 * Stand-in `terraform` and `ansible-playbook` executables (test/support/
 * standins/) put first on PATH for the up/destroy tests, and what they
 * recorded. See the header of each stand-in for what it plays back.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './cli.js';

const DIR = path.join(ROOT, 'test', 'support', 'standins');

export interface Call {
  tool: 'terraform' | 'ansible-playbook';
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  passwordSha?: string;
}

/** A bin directory holding the chosen stand-ins and `node` (their interpreter), nothing else. */
export function standinBin(parent: string, tools: ('terraform' | 'ansible-playbook')[] = ['terraform', 'ansible-playbook']): string {
  const bin = path.join(parent, `bin-${tools.join('-') || 'none'}`);
  mkdirSync(bin, { recursive: true });
  for (const t of tools) {
    const src = path.join(DIR, `${t}.mjs`);
    chmodSync(src, 0o755);
    if (!existsSync(path.join(bin, t))) symlinkSync(src, path.join(bin, t));
  }
  if (!existsSync(path.join(bin, 'node'))) symlinkSync(process.execPath, path.join(bin, 'node'));
  return bin;
}

export function readCalls(record: string): Call[] {
  if (!existsSync(record)) return [];
  return readFileSync(record, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Call);
}
