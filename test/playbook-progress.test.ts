/**
 * The ansible phase's progress (src/runners/playbook-progress.ts), fed
 * ansible-playbook's own default output: plays counted against the
 * playbook's, the task, hosts answered of the play's, the clock; and the
 * playbook's plays counted from site.yml itself.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { countPlays, PlaybookProgress } from '../src/runners/playbook-progress.js';
import { ROOT } from './support/cli.js';

// As ansible-core 2.14 prints it (default callback, YAML results), cut from a lab run.
const OUTPUT = `
PLAY [Base system, SSH and host firewall on every node] ************************

TASK [Gathering Facts] *********************************************************
ok: [hawp-wp-01]
ok: [hawp-db-01]
ok: [hawp-db-02]

TASK [common : Install the base packages] **************************************
ok: [hawp-db-01]
changed: [hawp-wp-01] => (item=nftables)
changed: [hawp-wp-01] => (item=sudo)

PLAY [MariaDB Galera cluster] **************************************************

TASK [galera : Install MariaDB and Galera] *************************************
ok: [hawp-db-01]
ok: [hawp-db-02]

TASK [galera : Join the cluster] ***********************************************
skipping: [hawp-db-01]
fatal: [hawp-db-02 -> hawp-db-01]: FAILED! =>
    msg: it did not join

RUNNING HANDLER [galera : Restart MariaDB] *************************************
changed: [hawp-db-01]

PLAY RECAP *********************************************************************
hawp-db-01                 : ok=4    changed=1    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
`.split('\n');

describe('PlaybookProgress', () => {
  it('follows plays, tasks and hosts; a host counts once per task however many items it ran; the play’s size is learnt from its tasks', () => {
    const p = new PlaybookProgress(7, 1_000);
    const at: Record<string, string> = {};
    const seen: string[] = [];
    for (const line of OUTPUT) {
      const what = p.feed(line);
      if (what) seen.push(what);
      if (line.startsWith('changed: [hawp-wp-01] => (item=sudo)')) at.items = p.status(1_000 + 65_000);
      if (line.startsWith('ok: [hawp-db-01]') && at.firstOfPlay === undefined && seen.filter((w) => w === 'play').length === 2)
        at.firstOfPlay = p.status(1_000 + 125_000);
      if (line.startsWith('skipping: [hawp-db-01]')) at.second = p.status(1_000 + 130_000);
      if (line.startsWith('fatal:')) at.fatal = p.status(1_000 + 131_000);
    }
    expect(seen.filter((w) => w === 'play')).toHaveLength(2);
    expect(seen.filter((w) => w === 'task')).toHaveLength(5);
    // Two hosts answered (wp-01 twice, for two items); the play's size is the facts task's 3.
    expect(at.items).toBe('ansible: play 1/7 Base system, SSH and host firewall on every node · common : Install the base packages · 2/3 hosts · 1:05');
    // A play's first task: its size is not known yet.
    expect(at.firstOfPlay).toBe('ansible: play 2/7 MariaDB Galera cluster · galera : Install MariaDB and Galera · 1 host · 2:05');
    expect(at.second).toBe('ansible: play 2/7 MariaDB Galera cluster · galera : Join the cluster · 1/2 hosts · 2:10');
    // A delegated failure is its host's ("hawp-db-02 -> hawp-db-01").
    expect(at.fatal).toBe('ansible: play 2/7 MariaDB Galera cluster · galera : Join the cluster · 2/2 hosts · 2:11');
    expect(p.playLine(1_000 + 3_723_000)).toBe('play 2/7 MariaDB Galera cluster (62:03)');
  });

  it('before any play, and without a known number of plays', () => {
    const p = new PlaybookProgress(undefined, 0);
    expect(p.status(999)).toBe('ansible: starting · 0:00');
    p.feed('PLAY [Only one] ****');
    expect(p.status(61_000)).toBe('ansible: play 1 Only one · 1:01');
    // Result-shaped lines outside a task (a recap, a warning) are not hosts.
    expect(p.feed('ok: [hawp-wp-01]')).toBeUndefined();
  });
});

describe('countPlays', () => {
  it("counts site.yml's plays: as many as the PLAY lines a run prints", () => {
    const site = readFileSync(path.join(ROOT, 'ansible', 'site.yml'), 'utf8');
    const plays = countPlays(site);
    expect(plays).toBe([...site.matchAll(/^\s{2}hosts: /gm)].length);
    expect(plays).toBeGreaterThanOrEqual(6);
  });
});
