/**
 * The lab's S3 stand-in as a long-running process:
 * `node dist/lab/s3-standin.js <config.json>`, started detached like the
 * services daemon (lab/daemon.ts) and stopped with SIGTERM. The access key
 * and secret come from the config file (0600, root's), never from argv,
 * where `ps` would show them. See lab/s3.ts for what it checks and
 * docs/backups.md for how restic uses it.
 *
 * Config (JSON): address, port, directory, accessKey, secretKey, and
 * optionally buckets (created at start) and configHash (echoed by
 * GET /_lab/health, so the starter can tell a stale daemon from a current
 * one, as with /lab/health).
 */
import { promises as fs } from 'node:fs';
import { startS3Standin, type S3StandinOptions } from './s3.js';

export type S3StandinConfig = Omit<S3StandinOptions, 'log'>;

function log(text: string): void {
  process.stdout.write(`${new Date().toISOString()} ${text}\n`);
}

/** The config file's contents, or an error naming the field that is wrong. */
export function parseS3StandinConfig(text: string): S3StandinConfig {
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`the config is not JSON (${(err as Error).message})`, { cause: err });
  }
  const str = (k: string) => {
    if (typeof c[k] !== 'string' || c[k] === '') throw new Error(`the config's "${k}" must be a non-empty string`);
    return c[k];
  };
  const port = c.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error('the config\'s "port" must be a port number (0-65535)');
  const buckets = c.buckets ?? [];
  if (!Array.isArray(buckets) || !buckets.every((b) => typeof b === 'string')) throw new Error('the config\'s "buckets" must be a list of bucket names');
  const configHash = c.configHash;
  if (configHash !== undefined && typeof configHash !== 'string') throw new Error('the config\'s "configHash" must be a string');
  return {
    address: str('address'),
    port,
    directory: str('directory'),
    accessKey: str('accessKey'),
    secretKey: str('secretKey'),
    buckets: buckets as string[],
    ...(configHash === undefined ? {} : { configHash }),
  };
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: s3-standin.js <config.json>');
  // Objects hold encrypted backups, but they are root's business alone.
  process.umask(0o077);
  const cfg = parseS3StandinConfig(await fs.readFile(file, 'utf8'));
  const standin = await startS3Standin({ ...cfg, log });
  log(`S3 stand-in on ${standin.url}, data in ${cfg.directory}${cfg.buckets?.length ? `, buckets ${cfg.buckets.join(', ')}` : ''} (pid ${process.pid})`);
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.on(sig, () => {
      log(`stopping (${sig})`);
      // close() lets s3rver finish what it was given; then the event loop drains its last file writes and
      // the process ends by itself (process.exit could drop them). The timer only bounds a handle that lingers.
      void standin.close().finally(() => setTimeout(() => process.exit(0), 5000).unref());
    });
}

if (require.main === module) {
  process.on('uncaughtException', (err) => log(`uncaught: ${err.stack ?? err.message}`));
  main().catch((err: Error) => {
    log(`cannot start: ${err.message}`);
    process.exit(1);
  });
}
