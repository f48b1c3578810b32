/**
 * What `up` and `destroy` share: finding and opening the workspace (settings,
 * vault, token), the preflight checks, the environments of the children,
 * and how a phase reports progress and failure.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CancelledError, UsageError, UserError } from '../errors.js';
import type { Vaults } from '../secrets/catalog.js';
import { expandHome, readKey, type KeyInfo } from '../ssh/keys.js';
import { keysFor, sshExec, type Credentials } from '../ssh/exec.js';
import { readSettings, SETTINGS_FILE, type WorkspaceSettings } from '../settings/stored.js';
import type { Target } from '../settings/table.js';
import type { Context } from './context.js';
import { startSpinner } from '../ui/spinner.js';
import { doToken } from '../validation/rules.js';
import { childEnv } from '../runners/env.js';
import { finishOnInterrupt, logStamp, PhaseLog, StepFailure } from '../runners/process.js';
import { isWorkspace, readSettingsFile, readWorkspaceSecrets } from '../workspace/workspace.js';
import { shellQuote } from '../render/escape.js';
import { openingPassword } from '../workspace/vault-password.js';
import { withWorkspaceLock } from '../workspace/lock.js';
import { readIfExists } from '../workspace/files.js';
import { LAB_CA_FILE, recordedHostKeys, type Host } from '../workspace/inventory.js';
import { requireCurrentShipped } from '../workspace/shipped.js';

export type OpContext = Context;

export interface Workspace {
  dir: string;
  /** ha-wordpress.yml, checked and typed (settings/stored.ts). */
  settings: WorkspaceSettings;
  target: Target;
  project: string;
  vaultPassword: string;
  vaults: Partial<Vaults>;
  /** The API token (from the environment when set there, else the vault). */
  token?: string;
  tokenSource?: string;
  /** The private key of the site's own certificate (--tls-key), from terraform's vault. */
  tlsKey?: string;
  /** Where logs of this run go, and its timestamp. */
  logDir: string;
  stamp: string;
}

export const LOG_DIR = '.ha-wordpress/logs';

/** The workspace's place and settings, without opening the vault (enough for `status`). */
export async function locateWorkspace(ctx: OpContext): Promise<Pick<Workspace, 'dir' | 'settings' | 'target' | 'project' | 'logDir' | 'stamp'>> {
  const given = ctx.options.dir !== undefined;
  const dir = given ? path.resolve(ctx.cwd, expandHome(ctx.options.dir!, ctx.home)) : ctx.cwd;
  if (!(await isWorkspace(dir)))
    throw new UsageError(
      given
        ? `--dir: ${dir} is not an ha-wordpress workspace (no ${SETTINGS_FILE}); give the directory \`ha-wordpress init\` created`
        : `${dir} is not an ha-wordpress workspace (no ${SETTINGS_FILE}); cd into the directory \`ha-wordpress init\` created, or give --dir`,
    );
  const { settings, notes } = readSettings(await readSettingsFile(dir), ctx.env);
  for (const note of notes) ctx.log.warn(note);
  return { dir, settings, target: settings.target as Target, project: settings.project, logDir: path.join(dir, LOG_DIR), stamp: logStamp() };
}

/**
 * Opens the workspace for a command that changes it or the cluster, holding
 * its lock (workspace/lock.ts) while `fn` runs: one such command at a time.
 */
export async function withLockedWorkspace<T>(ctx: OpContext, command: string, fn: (ws: Workspace) => Promise<T>): Promise<T> {
  const located = await locateWorkspace(ctx);
  // Every command but destroy runs this version's logic against the
  // workspace's copy of the playbook and terraform code, so the two must be
  // the same version. destroy removes what the workspace's own terraform
  // code made, whichever version that is.
  if (command !== 'destroy') await requireCurrentShipped(located.dir, located.target, command);
  return withWorkspaceLock(located.dir, command, async () => fn(await openWorkspace(ctx, located)));
}

/** The workspace with its vaults open; `located` when the caller already found it. */
export async function openWorkspace(ctx: OpContext, located?: Awaited<ReturnType<typeof locateWorkspace>>): Promise<Workspace> {
  const { dir, settings, target, project, logDir, stamp } = located ?? (await locateWorkspace(ctx));
  const vaultPassword = await openingPassword(ctx, dir);
  const { vaults, token: vaultToken, tlsKey } = await readWorkspaceSecrets(dir, vaultPassword);

  let token: string | undefined;
  let tokenSource: string | undefined;
  if (target === 'digitalocean') {
    for (const name of ['DIGITALOCEAN_TOKEN', 'DIGITALOCEAN_ACCESS_TOKEN']) {
      const v = ctx.env[name];
      if (v) {
        const problem = doToken(v);
        if (problem) throw new UsageError(`${name}: ${problem}`);
        token = v;
        tokenSource = name;
        break;
      }
    }
    if (!token && vaultToken) {
      token = vaultToken;
      tokenSource = 'terraform/vault.yml';
    }
    if (!token) throw new UsageError('no DigitalOcean API token: set DIGITALOCEAN_TOKEN, or run `ha-wordpress init` again to store one');
  }
  return { dir, settings, target, project, vaultPassword, vaults, token, tokenSource, ...(tlsKey ? { tlsKey } : {}), logDir, stamp };
}

export async function requireFile(ws: Workspace, rel: string, why: string): Promise<void> {
  try {
    await fs.access(path.join(ws.dir, rel));
  } catch {
    throw new UserError(`${rel} is missing from the workspace (${why}); run \`ha-wordpress init\` in ${ws.dir} again to restore the shipped files`);
  }
}

/**
 * How to log in to the nodes: the admin user with the project key, or with
 * ssh-agent when the key has a passphrase (ansible's ssh uses the agent too).
 */
export async function sshCredentials(ctx: OpContext, ws: Pick<Workspace, 'settings'>): Promise<Credentials> {
  const key = await projectKey(ws);
  const user = ws.settings.adminUser;
  if (!key.encrypted) return { user, privateKey: await fs.readFile(key.path, 'utf8') };
  if (!ctx.env.SSH_AUTH_SOCK)
    throw new UsageError(
      `${key.path} has a passphrase and no ssh-agent is running: start one (eval "$(ssh-agent)"), run \`ssh-add ${key.path}\`, then try again`,
    );
  return { user, agent: ctx.env.SSH_AUTH_SOCK };
}

/** A command on a node, as the commands that change nodes one at a time run it (retire, upgrade). */
export type NodeExec = (h: Host, command: string, timeoutMs: number) => Promise<{ code: number | null; stdout: string; stderr: string }>;

/** The last line a command printed (stderr first), else how it ended: for one-line messages. */
export const lastLine = (r: { code: number | null; stdout?: string; stderr: string }) =>
  (r.stderr || r.stdout || '').trim().split('\n').pop() || (r.code === null ? 'the connection closed' : `exit ${r.code}`);

/**
 * Runs commands on the nodes over SSH as the admin user, trusting only the
 * host keys `up` recorded. A connection that fails is an answer like any
 * other (code null, its message as stderr): the step that asked says what it
 * means for the cluster.
 */
export async function nodeExec(ctx: OpContext, ws: Pick<Workspace, 'dir' | 'settings'>): Promise<NodeExec> {
  const credentials = await sshCredentials(ctx, ws);
  const known = await recordedHostKeys(ws.dir);
  return (h, command, timeoutMs) =>
    sshExec(h, credentials, command, { timeoutMs, readyTimeoutMs: 10_000, acceptKey: (k) => keysFor(known, h.address, h.port).includes(k) }).catch(
      (err: Error) => ({ code: null, stdout: '', stderr: err.message }),
    );
}

/** The project's SSH key, as ha-wordpress.yml names it. */
export async function projectKey(ws: Pick<Workspace, 'settings'>): Promise<KeyInfo> {
  const keyPath = ws.settings.sshKey;
  if (!keyPath) throw new UserError(`${SETTINGS_FILE} names no ssh-key; run \`ha-wordpress init\` again with --ssh-key`);
  return readKey(keyPath, `--ssh-key (from ${SETTINGS_FILE})`);
}

/** Names the command that resumes after a failure, with --dir when the user gave it (quoted for a shell). */
export function resumeCommand(ctx: OpContext, rest: string): string {
  const dir = ctx.options.dir !== undefined ? ` --dir ${shellQuote(ctx.options.dir)}` : '';
  return `ha-wordpress ${rest}${dir}`;
}

/**
 * Runs one phase: a spinner on a terminal (or the streamed output with
 * --verbose), its log file, a ✔ line with its result when it ends. A child
 * that fails becomes one error line naming the phase, after the last lines
 * of its output, the log file and how to resume.
 */
export async function phase<T>(
  ctx: OpContext,
  ws: Workspace,
  name: string,
  title: string,
  resume: string,
  work: (p: { log: PhaseLog; onLine?: (line: string) => void; status: (text: string) => void; onInterrupt: (n: number) => void }) => Promise<T>,
  done: (result: T) => string,
  /** A failure that is a refusal, not a fault: the line that says what to do instead of "fix the cause, then resume". */
  refusal?: (err: StepFailure) => string | undefined,
): Promise<T> {
  const log = new PhaseLog(ws.logDir, name, ws.stamp);
  const started = Date.now();
  const spinner = await startSpinner(`${title}…`, !ctx.verbose);
  if (!process.stderr.isTTY || ctx.verbose) ctx.log.info(`→ ${title}…`);
  const onLine = ctx.verbose ? (line: string) => ctx.log.info(`  ${line}`) : undefined;
  const onInterrupt = (n: number) => {
    spinner.stop();
    ctx.log.warn(
      n === 1 ? `stopping ${name} gracefully (it finishes its current step and releases its locks); Ctrl-C again to force` : `forcing ${name} to stop`,
    );
  };
  try {
    const result = await work({ log, onLine, status: (t) => spinner.text(t), onInterrupt });
    spinner.stop();
    ctx.log.success(`${done(result)} (${seconds(Date.now() - started)})`);
    return result;
  } catch (err) {
    spinner.stop();
    const rel = path.relative(ctx.cwd, log.file) || log.file;
    if (err instanceof StepFailure) {
      ctx.log.info(`The last lines of ${err.step}:`);
      for (const line of err.tail.filter((l) => l.trim() !== '')) ctx.log.info(`  │ ${line}`);
      const instead = refusal?.(err);
      if (instead) throw new UserError(`${instead}; full output in ${rel}`);
      throw new UserError(`the ${name} phase failed: ${err.message}; full output in ${rel}; fix the cause, then run \`${resume}\``);
    }
    // A child stopped (or not started) at Ctrl-C: what goes on from here.
    if (err instanceof CancelledError && err.message.startsWith('Interrupted: ')) {
      log.line(err.message);
      throw new CancelledError(`${err.message} Run \`${resume}\` to go on.`);
    }
    if (err instanceof UserError) log.line(`error: ${err.message}`);
    throw err;
  } finally {
    await log.close();
  }
}

/**
 * A change to a live cluster (scale, replace) under Ctrl-C: the first one
 * finishes the step in progress to a safe point and stops there (a leaving
 * node finishes leaving, terraform and ansible-playbook stop cleanly, and
 * nothing new starts: runners/process.ts finishOnInterrupt); a second one
 * stops at once, saying what that may leave. `work` is told whether the
 * first one came, to stop at its own safe points.
 */
export async function finishingOnInterrupt<T>(ctx: OpContext, command: string, work: (requested: () => boolean) => Promise<T>): Promise<T> {
  const guard = finishOnInterrupt(
    () => ctx.log.warn(`${command}: Ctrl-C: finishing the step in progress to a safe point, then stopping; Ctrl-C again stops at once`),
    () =>
      ctx.log.error(
        `${command}: stopped at once (a second Ctrl-C): a node may be half out of its tier; \`ha-wordpress status\` shows it, ` +
          `and \`${resumeCommand(ctx, 'up')}\` brings it back`,
      ),
  );
  try {
    return await work(guard.requested);
  } finally {
    guard.release();
  }
}

/**
 * A change applied only after a yes at the prompt or with --yes; without a
 * terminal, `refusal` (exit 2). False when the user declined: nothing was changed.
 */
export async function consented(ctx: OpContext, question: { message: string; default: boolean }, refusal: string): Promise<boolean> {
  if (ctx.yes) return true;
  if (!ctx.interactive) throw new UsageError(refusal);
  if (await ctx.prompts.confirm(question)) return true;
  ctx.log.info('Nothing was changed.');
  return false;
}

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** The environment a child starts from: the allow-listed part of the user's (runners/env.ts), none of our secrets. */
export function baseEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return childEnv(env);
}

/** terraform's environment: the token (and Spaces keys, API URL) by environment only, never argv or files. */
export function terraformEnv(ctx: OpContext, ws: Workspace): NodeJS.ProcessEnv {
  // No Spaces key: the cluster's root manages no bucket. The buckets' root
  // (terraform/backup) gets terraform's own key on top of this (backup/spaces.ts).
  return childEnv(ctx.env, {
    DIGITALOCEAN_TOKEN: ws.token,
    DIGITALOCEAN_API_URL: ws.settings.apiUrl || undefined,
    // The private key of the site's own certificate (docs/https.md); terraform reads it as var.tls_private_key.
    TF_VAR_tls_private_key: ws.tlsKey,
    TF_IN_AUTOMATION: '1',
    TF_INPUT: '0',
  });
}

/** Tools a run needs, with their versions; every one that is missing is named at once, with how to install it. */
export async function preflightTools(tools: { name: string; version: () => Promise<string | undefined>; hint: string }[]): Promise<string[]> {
  const found: string[] = [];
  const missing: string[] = [];
  // Concurrently: ansible-playbook --version alone is half a second of Python start-up.
  const versions = await Promise.all(tools.map((t) => t.version()));
  tools.forEach((t, i) => {
    const v = versions[i];
    if (v) found.push(`${t.name} ${v}`);
    else missing.push(`${t.name} was not found on PATH: ${t.hint}`);
  });
  if (missing.length) throw new UserError(missing.join('\n'));
  return found;
}

/** The site's public entry: the load balancer's address, and the URL the site answers on there. */
export interface SiteEntry {
  ip: string;
  /** http://<domain or ip>/ or https://<domain>/ (terraform's site_url). */
  url: string;
  /** A CA to verify the site's certificate with, instead of the system's (the lab's). */
  ca?: string;
}

/** The CA that verifies the site's certificate when it is not a public one: the lab's (LAB_CA_FILE). */
export async function siteCa(ws: Pick<Workspace, 'dir' | 'target'>): Promise<string | undefined> {
  return ws.target === 'local' ? readIfExists(path.join(ws.dir, LAB_CA_FILE)) : undefined;
}

/**
 * GET / on the load balancer with the site's name (Host header, and for
 * HTTPS the TLS server name, the certificate verified) until a 200, or false
 * after `ms`.
 */
export async function siteAnswers(site: SiteEntry, ms: number): Promise<boolean> {
  const [{ httpStatus }, { sleep }] = await Promise.all([import('../net/http-probe.js'), import('../util/sleep.js')]);
  const probe = { ...siteRequest(site), timeoutMs: 5000 };
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if ((await httpStatus(probe)) === 200) return true;
    await sleep(1000);
  }
  return false;
}

/** How to ask the site at its entry, as a visitor's browser would: the address, the Host header, and TLS with the name verified. */
export function siteRequest(site: SiteEntry): { host: string; hostHeader?: string; tls?: { servername: string; ca?: string } } {
  const name = new URL(site.url).hostname;
  return {
    host: site.ip,
    ...(name !== site.ip ? { hostHeader: name } : {}),
    ...(site.url.startsWith('https:') ? { tls: { servername: name, ...(site.ca ? { ca: site.ca } : {}) } } : {}),
  };
}
