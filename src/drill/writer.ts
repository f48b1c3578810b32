/**
 * Acknowledged writes, and whether any was lost. libexec/drill-writer.php
 * runs in one web node (php-cli is there; nothing is installed) and writes
 * the way WordPress does: with WordPress's own credentials, through the
 * reserved IP and HAProxy, a new connection per write. It is driven from
 * here one row id per line, one every `everyMs`; a row is "acknowledged" when
 * the writer answered `ok <id>` (its INSERT returned, so Galera certified and
 * replicated it). Afterwards every database node is read directly: an
 * acknowledged row missing from any node is a lost write.
 */
import { promises as fs } from 'node:fs';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { UserError } from '../errors.js';
import type { LabControl } from '../lab/index.js';
import { packagePath } from '../paths.js';
import { sleep } from '../util/sleep.js';
import { lostWrites, parseIds } from './measure.js';

/** Running commands in the nodes: the writer's node, and the database nodes for the read-back. */
export type NodeShell = Pick<LabControl, 'exec' | 'spawn'>;

/** Where the script is put in the writer's node (a tmpfs: gone at the node's next boot whatever happens). */
export const WRITER_FILE = '/run/ha-wordpress-drill-writer.php';

/**
 * The writer failed, so the figures would mean nothing. `code`: 'no-start'
 * (it never said it was ready: the database takes no writes, or no answer),
 * 'stopped' (it ended by itself), 'out-of-turn' (an answer for another id
 * than the one sent).
 */
export class WriterError extends UserError {
  constructor(
    readonly code: 'no-start' | 'stopped' | 'out-of-turn',
    message: string,
  ) {
    super(message);
    this.name = 'WriterError';
  }
}

export interface WriterOptions {
  /** One write started every this many ms (a slow write delays the next one; writes never overlap). */
  everyMs?: number;
  /** The PHP script (default: libexec/drill-writer.php from the package). */
  script?: string;
  /** How long the writer may take to say it is ready (it retries the database for about 10 s). */
  readyTimeoutMs?: number;
}

/** The writes started in a window, against what the database nodes hold. */
export interface WriteFigures {
  acknowledged: number;
  /** Acknowledged, yet missing from at least one database node. */
  lost: number[];
  /** Answered `fail` (it may still have committed, so it is not checked). */
  failed: number;
}

export class Writer {
  private readonly acked = new Map<number, number>();
  private readonly failedAt: number[] = [];
  /** [start, ms until answered] of every write: what a backup or a failover adds to a write's time. */
  private readonly took: [number, number][] = [];
  private stopped = false;
  private loop?: Promise<void>;
  private nextId = 0;
  /** Why the writer stopped on its own, if it did (the drill's figures would be meaningless). */
  error?: WriterError;

  private constructor(
    private readonly nodes: NodeShell,
    private readonly node: string,
    private readonly child: ChildProcess,
    private readonly lines: AsyncIterator<string>,
    /** The writer's table, quoted for SQL (`db`.`ha_wordpress_drill`). */
    readonly table: string,
    /** One write started every this many ms. */
    readonly everyMs: number,
  ) {}

  /** Puts the writer in `node`, starts it and waits for it to be ready (its table created and emptied). */
  static async start(nodes: NodeShell, node: string, o: WriterOptions = {}): Promise<Writer> {
    const script = o.script ?? (await fs.readFile(packagePath('libexec', 'drill-writer.php'), 'utf8'));
    await nodes.exec(node, ['sh', '-c', `umask 077 && cat > ${WRITER_FILE}`], { input: script });
    const child = await nodes.spawn(node, ['php', WRITER_FILE]);
    const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    child.stderr!.resume();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<IteratorResult<string>>((r) => (timer = setTimeout(() => r({ done: true, value: undefined }), o.readyTimeoutMs ?? 60_000)));
    const first = await Promise.race([lines.next(), timedOut]);
    clearTimeout(timer);
    const line = first.done ? '' : first.value;
    const m = /^ready ([A-Za-z0-9_$]+\.ha_wordpress_drill)$/.exec(line);
    if (!m) {
      child.kill('SIGKILL');
      throw new WriterError('no-start', `the drill's writer in ${node} could not start: ${line.replace(/^error /, '') || 'no answer'}`);
    }
    const table = m[1]!
      .split('.')
      .map((p) => `\`${p}\``)
      .join('.');
    return new Writer(nodes, node, child, lines, table, o.everyMs ?? 200);
  }

  /** Starts writing, one row every `everyMs`, until stop(); a failure of the writer itself ends it and is kept in `error`. */
  run(): void {
    this.loop ??= (async () => {
      while (!this.stopped) {
        const id = ++this.nextId;
        const t = performance.now();
        this.child.stdin!.write(`${id}\n`);
        const next = await this.lines.next();
        if (next.done) throw new WriterError('stopped', `the drill's writer in ${this.node} stopped`);
        const [verdict, n] = next.value.split(' ');
        if (Number(n) !== id) throw new WriterError('out-of-turn', `the drill's writer in ${this.node} answered out of turn: ${next.value.slice(0, 40)}`);
        if (verdict === 'ok') this.acked.set(id, t);
        else this.failedAt.push(t);
        this.took.push([t, performance.now() - t]);
        const rest = this.everyMs - (performance.now() - t);
        if (rest > 0) await sleep(rest);
      }
    })().catch((err: unknown) => {
      this.error = err instanceof WriterError ? err : new WriterError('stopped', `the drill's writer in ${this.node} stopped: ${(err as Error).message}`);
    });
  }

  /** Ends the writes (the one in flight is answered first), then the writer, and removes its script. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.child.stdin!.end();
    await new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      const t = setTimeout(() => {
        this.child.kill('SIGKILL');
        resolve();
      }, 10_000);
      this.child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
    await this.nodes.exec(this.node, ['rm', '-f', WRITER_FILE]).catch(() => undefined);
  }

  /** Writes started in [from, to) (performance.now() ms): acknowledged ids, and how many failed. */
  between(from: number, to: number): { acknowledged: number[]; failed: number } {
    const acknowledged = [...this.acked].filter(([, t]) => t >= from && t < to).map(([id]) => id);
    return { acknowledged, failed: this.failedAt.filter((t) => t >= from && t < to).length };
  }

  /** How long the writes started in [from, to) took to be answered, in ms: median, 95th percentile, longest. */
  latency(from: number, to: number): { writes: number; median: number; p95: number; max: number } {
    const ms = this.took
      .filter(([t]) => t >= from && t < to)
      .map(([, d]) => d)
      .sort((a, b) => a - b);
    const at = (q: number) => (ms.length ? ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]! : 0);
    return { writes: ms.length, median: at(0.5), p95: at(0.95), max: ms.length ? ms[ms.length - 1]! : 0 };
  }

  /** Every row one database node has, read on the node itself (root over its socket; wsrep_sync_wait so it has applied all it received). */
  async readBack(db: string): Promise<Set<number>> {
    const r = await this.nodes.exec(db, ['mariadb', '-N', '-B', '-e', `SET SESSION wsrep_sync_wait = 1; SELECT id FROM ${this.table}`], { timeoutMs: 60_000 });
    return parseIds(r.stdout);
  }

  /** The writes started in [from, to), checked against every database node (read concurrently). */
  async check(from: number, to: number, dbNodes: string[]): Promise<WriteFigures> {
    const w = this.between(from, to);
    const perNode = await Promise.all(dbNodes.map((db) => this.readBack(db)));
    return { acknowledged: w.acknowledged.length, lost: lostWrites(w.acknowledged, perNode), failed: w.failed };
  }

  /** Removes the writer's table (through one database node; Galera replicates the DROP). Best effort. */
  async dropTable(db: string): Promise<void> {
    await this.nodes.exec(db, ['mariadb', '-e', `DROP TABLE IF EXISTS ${this.table}`], { timeoutMs: 30_000 }).catch(() => undefined);
  }
}
