/**
 * The writer protocol (src/drill/writer.ts) against stand-ins of
 * libexec/drill-writer.php: small Node scripts that speak its protocol
 * (`ready <db>.<table>`, then `ok <id>` / `fail <id> <code>` per id), put and
 * run through a fake node shell the way the lab's would. The PHP script
 * itself is exercised against a real cluster in test/lab.e2e.test.ts.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { WRITER_FILE, Writer, WriterError, type NodeShell } from '../src/drill/writer.js';

/** A node shell that keeps what is written to WRITER_FILE, runs it with node when asked for `php WRITER_FILE`, and answers `mariadb` with each node's rows. */
function fakeNodes(rows: Record<string, string> = {}) {
  const calls: { node: string; argv: string[]; input?: string }[] = [];
  let script = '';
  const shell: NodeShell = {
    async exec(node, argv, o = {}) {
      calls.push({ node, argv, input: o.input });
      if (argv[0] === 'sh' && argv[2] === `umask 077 && cat > ${WRITER_FILE}`) script = o.input ?? '';
      const stdout = argv[0] === 'mariadb' ? (rows[node] ?? '') : '';
      return { stdout, stderr: '', code: 0 };
    },
    async spawn(node, argv) {
      calls.push({ node, argv });
      expect(argv).toEqual(['php', WRITER_FILE]);
      return spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    },
  };
  return { shell, calls };
}

/** A stand-in writer: `answer(id)` is the JS expression of its reply to each id. */
const standIn = (answer: string, first = "'ready wordpress.ha_wordpress_drill'") => `
  const out = (l) => process.stdout.write(l + '\\n');
  out(${first});
  require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
    const id = Number(line.trim());
    out(${answer});
  });
`;

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Writer', () => {
  it('puts the writer in the node privately, runs it, and records which writes were acknowledged and which failed, by when they started', async () => {
    const { shell, calls } = fakeNodes();
    const w = await Writer.start(shell, 's-wp-03', { script: standIn("id % 3 === 0 ? 'fail ' + id + ' 2002' : 'ok ' + id"), everyMs: 20 });
    expect(calls[0]).toMatchObject({ node: 's-wp-03', argv: ['sh', '-c', `umask 077 && cat > ${WRITER_FILE}`] });
    expect(w.table).toBe('`wordpress`.`ha_wordpress_drill`');
    const from = performance.now();
    w.run();
    await wait(400);
    await w.stop();
    const to = performance.now();
    expect(w.error).toBeUndefined();
    const all = w.between(from, to);
    const sent = all.acknowledged.length + all.failed;
    // Paced: one write every 20 ms, never overlapping, so about 20 in 400 ms.
    expect(sent).toBeGreaterThanOrEqual(10);
    expect(sent).toBeLessThanOrEqual(22);
    expect(all.acknowledged.every((id) => id % 3 !== 0)).toBe(true);
    expect(all.failed).toBe(Math.floor(sent / 3));
    expect(all.acknowledged).toEqual([...Array(sent).keys()].map((i) => i + 1).filter((id) => id % 3 !== 0));
    // Its script is removed from the node when it stops.
    expect(calls.at(-1)).toEqual({ node: 's-wp-03', argv: ['rm', '-f', WRITER_FILE], input: undefined });
    // A window before any write holds none.
    expect(w.between(0, from)).toEqual({ acknowledged: [], failed: 0 });
  });

  it("measures how long each write took to be answered: a slow stretch shows in the window's 95th percentile and longest", async () => {
    const { shell } = fakeNodes();
    // Writes 6 to 8 are answered after 150 ms, the others at once.
    const slow = "(id >= 6 && id <= 8 ? Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150) : 0, 'ok ' + id)";
    const w = await Writer.start(shell, 's-wp-01', { script: standIn(slow), everyMs: 10 });
    const from = performance.now();
    w.run();
    while (w.between(from, Infinity).acknowledged.length < 20) await wait(20);
    await w.stop();
    const l = w.latency(from, Infinity);
    expect(l.writes).toBeGreaterThanOrEqual(20);
    expect(l.median).toBeLessThan(100);
    expect(l.max).toBeGreaterThanOrEqual(150);
    expect(l.p95).toBeGreaterThanOrEqual(150);
    expect(w.latency(0, from)).toEqual({ writes: 0, median: 0, p95: 0, max: 0 });
  });

  it('finds an acknowledged write missing from any database node, reading each node itself after it applied what it received', async () => {
    const { shell, calls } = fakeNodes({ 's-db-01': '1\n2\n4\n5\n', 's-db-02': '1\n2\n4\n5\n', 's-db-03': '1\n4\n5\n' });
    const w = await Writer.start(shell, 's-wp-03', { script: standIn("id === 3 ? 'fail 3 2013' : 'ok ' + id"), everyMs: 10 });
    const from = performance.now();
    w.run();
    while (w.between(from, Infinity).acknowledged.length + w.between(from, Infinity).failed < 5) await wait(10);
    await w.stop();
    const acked = w.between(from, Infinity).acknowledged;
    expect(acked.slice(0, 4)).toEqual([1, 2, 4, 5]);
    const figures = await w.check(from, Infinity, ['s-db-01', 's-db-02', 's-db-03']);
    // 2 is gone from s-db-03; 3 failed (not checked); anything written after 5 is on no node.
    expect(figures.lost).toEqual([2, ...acked.slice(4)]);
    expect(figures.failed).toBe(1);
    expect(figures.acknowledged).toBe(acked.length);
    const reads = calls.filter((c) => c.argv[0] === 'mariadb');
    expect(reads.map((c) => c.node)).toEqual(['s-db-01', 's-db-02', 's-db-03']);
    expect(reads[0]!.argv.at(-1)).toBe('SET SESSION wsrep_sync_wait = 1; SELECT id FROM `wordpress`.`ha_wordpress_drill`');
    await w.dropTable('s-db-01');
    expect(calls.at(-1)!.argv).toEqual(['mariadb', '-e', 'DROP TABLE IF EXISTS `wordpress`.`ha_wordpress_drill`']);
  });

  it('refuses to start when the writer says the database takes no writes, with its reason', async () => {
    const { shell } = fakeNodes();
    const err = await Writer.start(shell, 's-wp-03', {
      script: standIn("'ok ' + id", "'error the database does not take writes through 10.0.0.3:3306 (error 2002)'"),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WriterError);
    expect((err as WriterError).code).toBe('no-start');
    expect((err as Error).message).toBe("the drill's writer in s-wp-03 could not start: the database does not take writes through 10.0.0.3:3306 (error 2002)");
  });

  it('refuses to start when the writer says nothing in time', async () => {
    const { shell } = fakeNodes();
    const t = performance.now();
    const err = await Writer.start(shell, 's-wp-03', { script: 'setInterval(() => {}, 1000)', readyTimeoutMs: 300 }).catch((e: unknown) => e);
    expect((err as WriterError).code).toBe('no-start');
    expect((err as Error).message).toMatch(/could not start: no answer$/);
    expect(performance.now() - t).toBeLessThan(3000);
  });

  it('keeps a typed error when the writer answers out of turn or stops by itself', async () => {
    const { shell } = fakeNodes();
    const skew = await Writer.start(shell, 's-wp-03', { script: standIn("'ok ' + (id + 1)"), everyMs: 10 });
    skew.run();
    await wait(200);
    await skew.stop();
    expect(skew.error?.code).toBe('out-of-turn');
    expect(skew.error?.message).toBe("the drill's writer in s-wp-03 answered out of turn: ok 2");

    const dies = await Writer.start(shell, 's-wp-03', { script: standIn("id === 3 ? process.exit(1) : 'ok ' + id"), everyMs: 10 });
    dies.run();
    await wait(300);
    await dies.stop();
    expect(dies.error?.code).toBe('stopped');
    expect(dies.between(0, Infinity).acknowledged).toEqual([1, 2]);
  });
});
