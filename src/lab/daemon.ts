/**
 * Starting, checking and stopping the lab's two daemons from
 * labUp/labDestroy: the services daemon (services.ts: metadata, API, apt
 * repo) and the S3 stand-in (s3-standin.ts, where the backups go). Each is
 * found by its command line (it names its config file, which lives in the
 * lab's state dir) as well as by its pid file, so one started by a run
 * killed before it wrote the pid file is still found, and never confused
 * with another lab's. Each answers a health request with the hash of the
 * configuration it runs, so a changed configuration (or a newer
 * ha-wordpress) restarts it and an unchanged one is left alone.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { UserError } from '../errors.js';
import { httpGet } from '../net/http-probe.js';
import { packagePath } from '../paths.js';
import { sleep } from '../util/sleep.js';
import { labDir, s3DataDir } from './dirs.js';
import type { LabPlan } from './plan.js';
import type { S3StandinConfig } from './s3-standin.js';
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
  await startDetached(ctx, {
    what: "the lab's services daemon",
    script,
    files,
    // Holds the API token.
    config: JSON.stringify(cfg, null, 2) + '\n',
    started: async () => (await health(plan, 500))?.config === cfg.configHash,
    listens: `${plan.bridgeIp}:${plan.apiPort}`,
  });
  return true;
}

/**
 * Runs `node <script> <config file>` detached (it outlives this command, like
 * the droplets' services outlive a terraform run) with its output appended to
 * its log, and waits until `started` says it answers with this configuration.
 */
async function startDetached(
  ctx: Ctx,
  o: { what: string; script: string; files: { config: string; pid: string; log: string }; config: string; started: () => Promise<boolean>; listens: string },
): Promise<void> {
  try {
    await fs.access(o.script);
  } catch {
    throw new UserError(`${o.script} is missing: this ha-wordpress is not built (run npm run build in its directory), then run the command again`);
  }
  // Configs hold a secret: readable by root only.
  await writeAtomic(o.files.config, o.config, 0o600);
  const out = openSync(o.files.log, 'a', 0o600);
  try {
    const child = spawn(process.execPath, [o.script, o.files.config], { detached: true, stdio: ['ignore', out, out], env: hostEnv() });
    if (!child.pid) throw new UserError(`could not start ${o.what}; see ${o.files.log}`);
    child.unref();
    await writeAtomic(o.files.pid, `${child.pid}\n`);
    for (let i = 0; i < 100; i++) {
      if (await o.started()) return;
      if (child.exitCode !== null || (await fs.readFile(`/proc/${child.pid}/cmdline`).catch(() => undefined)) === undefined) break;
      await sleep(100);
    }
  } finally {
    closeSync(out);
  }
  const tail = (await fs.readFile(o.files.log, 'utf8').catch(() => '')).trim().split('\n').slice(-2).join(' | ');
  throw new UserError(
    `${o.what} did not start (${tail || 'no output'}); see ${o.files.log}, ` +
      `fix the cause (e.g. another program on ${o.listens}), then run the command again`,
  );
}

export async function stopDaemon(labId: string): Promise<void> {
  const files = daemonFiles(labId);
  await killProcesses(await findProcesses(daemonMarks(labId)));
  await fs.rm(files.pid, { force: true });
}

// ---------------------------------------------------------------------------
// The S3 stand-in

/** The key pair the stand-in accepts: the workspace's Spaces key pair (vault_backup_s3_access_key_id / _secret_access_key). */
export interface S3Keys {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Its config, pid and log live in the lab's (throw-away) dir; its data does not (s3DataDir). */
export const s3Files = (labId: string) => {
  const dir = labDir(labId);
  return { config: path.join(dir, 's3.json'), pid: path.join(dir, 's3.pid'), log: path.join(dir, 's3.log') };
};

/** s3.ts's HEALTH_PATH, written out: importing s3.ts would load s3rver into every lab command. */
export const S3_HEALTH_PATH = '/_lab/health';

const s3Marks = (labId: string) => [`${path.sep}s3-standin.js\0`, s3Files(labId).config];

/** The stand-in's configuration for this lab: the bridge address, the lab's S3 port, the data dir outside the lab dir. */
export function s3Config(plan: Pick<LabPlan, 'labId' | 'bridgeIp' | 's3Port'>, keys: S3Keys, code: string, buckets: string[] = []): S3StandinConfig {
  const c: S3StandinConfig = {
    address: plan.bridgeIp,
    port: plan.s3Port,
    directory: s3DataDir(plan.labId),
    accessKey: keys.accessKeyId,
    secretKey: keys.secretAccessKey,
    buckets,
  };
  return {
    ...c,
    configHash: createHash('sha256')
      .update(JSON.stringify({ ...c, code }))
      .digest('hex')
      .slice(0, 16),
  };
}

async function s3Health(
  plan: Pick<LabPlan, 'bridgeIp' | 's3Port'>,
  timeoutMs = 1500,
): Promise<{ service: string; config: string | null; pid: number } | undefined> {
  const r = await httpGet({ host: plan.bridgeIp, port: plan.s3Port, path: S3_HEALTH_PATH, timeoutMs });
  try {
    const h = r.status === 200 ? (JSON.parse(r.body) as { service: string; config: string | null; pid: number }) : undefined;
    return h?.service === 's3' ? h : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts the lab's S3 stand-in unless one with this exact configuration (keys included) answers; returns whether it (re)started.
 * `buckets` are made at its start, as terraform makes them on DigitalOcean (restic makes the backups' own).
 */
export async function ensureS3Daemon(ctx: Ctx, plan: Pick<LabPlan, 'labId' | 'bridgeIp' | 's3Port'>, keys: S3Keys, buckets: string[] = []): Promise<boolean> {
  const files = s3Files(plan.labId);
  const script = packagePath('dist', 'lab', 's3-standin.js');
  // Its code (and the gate's, which it loads) is part of its configuration: a newer ha-wordpress restarts it.
  const code = createHash('sha256');
  for (const f of [script, packagePath('dist', 'lab', 's3.js')]) code.update(await fs.readFile(f).catch(() => Buffer.alloc(0)));
  const cfg = s3Config(plan, keys, code.digest('hex'), buckets);
  const ours = await findProcesses(s3Marks(plan.labId));
  const h = ours.length ? await s3Health(plan) : undefined;
  if (h && h.config === cfg.configHash && ours.includes(h.pid)) return false;
  if (ours.length) {
    logLine(ctx, `S3 stand-in ${ours.join(',')} is stale or not answering: restarting it`);
    // SIGTERM: it lets s3rver finish the writes it was given before it exits.
    await killProcesses(ours, 30_000);
  }
  await startDetached(ctx, {
    what: "the lab's S3 stand-in",
    script,
    files,
    config: JSON.stringify(cfg, null, 2) + '\n',
    started: async () => (await s3Health(plan, 500))?.config === cfg.configHash,
    listens: `${plan.bridgeIp}:${plan.s3Port}`,
  });
  return true;
}

export async function stopS3Daemon(labId: string): Promise<void> {
  await killProcesses(await findProcesses(s3Marks(labId)), 30_000);
  await fs.rm(s3Files(labId).pid, { force: true });
}
