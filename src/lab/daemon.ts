/**
 * Starting, checking and stopping the lab's services daemon (services.ts)
 * from labUp/labDestroy. The daemon is found by its command line (it names
 * its config file, which lives in the lab's state dir) as well as by its pid
 * file, so one started by a run killed before it wrote the pid file is still
 * found, and never confused with another lab's.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { UserError } from '../errors.js';
import { httpGet } from '../net/http-probe.js';
import { packagePath } from '../paths.js';
import { sleep } from '../util/sleep.js';
import { labDir } from './dirs.js';
import type { LabPlan } from './plan.js';
import type { ServicesConfig } from './services.js';
import { findProcesses, hostEnv, killProcesses, logLine, type Ctx } from './sys.js';
import { writeAtomic } from '../workspace/files.js';

export const daemonFiles = (labId: string) => {
  const dir = labDir(labId);
  return {
    config: path.join(dir, 'services.json'),
    pid: path.join(dir, 'services.pid'),
    log: path.join(dir, 'services.log'),
    holder: path.join(dir, 'holder.json'),
  };
};

const daemonMarks = (labId: string) => [`${path.sep}services.js\0`, `${daemonFiles(labId).config}`];

async function health(plan: LabPlan, timeoutMs = 1500): Promise<{ lab: string; config: string; pid: number } | undefined> {
  const r = await httpGet({ host: plan.bridgeIp, port: plan.apiPort, path: '/lab/health', timeoutMs });
  try {
    return r.status === 200 ? (JSON.parse(r.body) as { lab: string; config: string; pid: number }) : undefined;
  } catch {
    return undefined;
  }
}

export function configHash(c: Omit<ServicesConfig, 'configHash'>): string {
  return createHash('sha256').update(JSON.stringify(c)).digest('hex').slice(0, 16);
}

/** Starts the daemon unless one with this exact configuration answers; returns whether it (re)started. */
export async function ensureDaemon(ctx: Ctx, c: Omit<ServicesConfig, 'configHash'>): Promise<boolean> {
  const plan = c.plan;
  const files = daemonFiles(plan.labId);
  const script = packagePath('dist', 'lab', 'services.js');
  // The daemon's own code is part of its configuration: a newer ha-wordpress restarts it.
  const code = await fs.readFile(script).catch(() => Buffer.alloc(0));
  const cfg: ServicesConfig = {
    ...c,
    configHash: configHash({ ...c, code: createHash('sha256').update(code).digest('hex') } as Omit<ServicesConfig, 'configHash'>),
  };
  const ours = await findProcesses(daemonMarks(plan.labId));
  const h = ours.length ? await health(plan) : undefined;
  if (h && h.lab === plan.labId && h.config === cfg.configHash && ours.includes(h.pid)) return false;
  if (ours.length) {
    logLine(ctx, `services daemon ${ours.join(',')} is stale or not answering: restarting it`);
    await killProcesses(ours);
  }
  try {
    await fs.access(script);
  } catch {
    throw new UserError(`${script} is missing: this ha-wordpress is not built (run npm run build in its directory), then run the command again`);
  }
  // Holds the API token: readable by root only.
  await writeAtomic(files.config, JSON.stringify(cfg, null, 2) + '\n', 0o600);
  const out = openSync(files.log, 'a', 0o600);
  try {
    const child = spawn(process.execPath, [script, files.config], { detached: true, stdio: ['ignore', out, out], env: hostEnv() });
    if (!child.pid) throw new UserError(`could not start the lab's services daemon; see ${files.log}`);
    child.unref();
    await writeAtomic(files.pid, `${child.pid}\n`);
    for (let i = 0; i < 100; i++) {
      const now = await health(plan, 500);
      if (now?.config === cfg.configHash) return true;
      if (child.exitCode !== null || (await fs.readFile(`/proc/${child.pid}/cmdline`).catch(() => undefined)) === undefined) break;
      await sleep(100);
    }
  } finally {
    closeSync(out);
  }
  const tail = (await fs.readFile(files.log, 'utf8').catch(() => '')).trim().split('\n').slice(-2).join(' | ');
  throw new UserError(
    `the lab's services daemon did not start (${tail || 'no output'}); see ${files.log}, ` +
      `fix the cause (e.g. another program on ${plan.bridgeIp}:${plan.apiPort}), then run the command again`,
  );
}

export async function stopDaemon(labId: string): Promise<void> {
  const files = daemonFiles(labId);
  await killProcesses(await findProcesses(daemonMarks(labId)));
  await fs.rm(files.pid, { force: true });
}
