/**
 * Droplet resizes one at a time (src/commands/resize.ts): how a plan's
 * resizes are found, the order they are applied in, and the gates between
 * them. terraform itself is replaced by a recorder here; the real provider
 * resizes against the loopback stand-in in
 * test/real-terraform-provider.loopback-api.e2e.test.ts.
 */
import { planSummary } from './support/plan.js';
import { describe, expect, it } from 'vitest';
import { applyResizes, resizeOrder, type Probe } from '../src/commands/resize.js';
import { beyondConfirmed } from '../src/commands/up.js';
import { CancelledError, UserError } from '../src/errors.js';
import { summarisePlan, type PlanSummary, type Resize, type TerraformRun } from '../src/runners/terraform.js';

const droplet = (address: string, name: string, before: string, after: string, actions = ['update']) => ({
  address,
  mode: 'managed',
  type: 'digitalocean_droplet',
  change: { actions, before: { name, size: before }, after: { name, size: after } },
});

const resize = (tier: 'web' | 'dblb' | 'db', i: number): Resize => ({
  address: `digitalocean_droplet.${tier}[${i}]`,
  name: `shop-${tier === 'web' ? 'wp' : tier}-0${i + 1}`,
  from: 's-1vcpu-2gb',
  to: 's-2vcpu-4gb',
});

const summary = planSummary;

describe('summarisePlan: resizes', () => {
  it('lists droplets whose size changes in place, with both sizes, and nothing else as a resize', () => {
    const s = summarisePlan(
      JSON.stringify({
        resource_changes: [
          droplet('digitalocean_droplet.db[0]', 'shop-db-01', 's-1vcpu-2gb', 's-2vcpu-4gb'),
          droplet('digitalocean_droplet.db[1]', 'shop-db-02', 's-1vcpu-2gb', 's-2vcpu-4gb'),
          // A tag change only: an update, not a resize.
          droplet('digitalocean_droplet.web[0]', 'shop-wp-01', 's-1vcpu-1gb', 's-1vcpu-1gb'),
          // Replaced (a new image, say): its size is no resize, everything on it is lost anyway.
          droplet('digitalocean_droplet.web[1]', 'shop-wp-02', 's-1vcpu-1gb', 's-2vcpu-2gb', ['delete', 'create']),
        ],
      }),
    );
    expect(s.change).toBe(3);
    expect(s.replaced).toEqual(['digitalocean_droplet.web[1]']);
    expect(s.resized).toEqual([
      { address: 'digitalocean_droplet.db[0]', name: 'shop-db-01', from: 's-1vcpu-2gb', to: 's-2vcpu-4gb' },
      { address: 'digitalocean_droplet.db[1]', name: 'shop-db-02', from: 's-1vcpu-2gb', to: 's-2vcpu-4gb' },
    ]);
  });
});

describe('resizeOrder', () => {
  it('web nodes first, then the HAProxy node without the reserved IP, its holder, the Galera nodes and the writer last', () => {
    const all = [resize('db', 0), resize('db', 1), resize('db', 2), resize('dblb', 0), resize('dblb', 1), resize('web', 1), resize('web', 0)];
    expect(resizeOrder(all, { writer: 'shop-db-01', holder: 'shop-dblb-01' }).map((r) => r.name)).toEqual([
      'shop-wp-01',
      'shop-wp-02',
      'shop-dblb-02',
      'shop-dblb-01',
      'shop-db-02',
      'shop-db-03',
      'shop-db-01',
    ]);
    // Not knowing the roles (a cluster that never held data): by tier, then by name.
    expect(resizeOrder([resize('db', 1), resize('db', 0), resize('dblb', 1)]).map((r) => r.name)).toEqual(['shop-dblb-02', 'shop-db-01', 'shop-db-02']);
  });
});

describe('applyResizes', () => {
  const run = {} as TerraformRun;
  type View = Awaited<ReturnType<Probe>>;
  const view = (healthy: boolean, problems: string[] = []): View => ({
    healthy,
    problems,
    galera: { cluster_size: 3, synced: [], primary: [], writer: 'shop-db-01' },
    reserved_ip: { address: '203.0.113.9', holder: 'shop-dblb-01' },
  });

  /** terraform that records what it was asked, and plans exactly the targeted droplet's resize. */
  function recorder(resized: Resize[], extra: Partial<PlanSummary> = {}) {
    const calls: string[] = [];
    return {
      calls,
      terraform: {
        plan: async (_r: TerraformRun, o: { target?: string[] } = {}) => {
          calls.push(`plan ${o.target?.join(',')}`);
          return summary({ change: 1, resized: resized.filter((x) => o.target?.includes(x.address)), ...extra });
        },
        apply: async (_r: TerraformRun, file: string) => {
          calls.push(`apply ${file}`);
        },
      },
    };
  }

  it('plans and applies each droplet on its own, in order, waiting for a healthy cluster after each', async () => {
    const resized = [resize('db', 0), resize('db', 1), resize('db', 2)];
    const t = recorder(resized);
    // After each apply the cluster is unhealthy once (the node rejoining), then healthy.
    const answers = [view(true), view(false, ['shop-db-02: Galera is Joined']), view(true), view(true), view(true), view(true), view(true)];
    const asked: number[] = [];
    const probe: Probe = async () => {
      asked.push(t.calls.length);
      return answers.shift() ?? view(true);
    };
    const lines: string[] = [];
    const done = await applyResizes({ run, resized, probe, resume: 'ha-wordpress up', progress: (l) => lines.push(l), terraform: t.terraform, everyMs: 1 });
    expect(done).toEqual(['shop-db-02', 'shop-db-03', 'shop-db-01']);
    expect(t.calls).toEqual([
      'plan digitalocean_droplet.db[1]',
      'apply resize.tfplan',
      'plan digitalocean_droplet.db[2]',
      'apply resize.tfplan',
      'plan digitalocean_droplet.db[0]',
      'apply resize.tfplan',
    ]);
    // Asked before anything, twice after the first apply (unhealthy, then healthy), and once after each other one.
    expect(asked).toEqual([0, 2, 2, 4, 6]);
    expect(lines[0]).toBe('shop-db-02: s-1vcpu-2gb → s-2vcpu-4gb (the droplet is shut down for it)');
  });

  it('a Ctrl-C stops it after the node in progress is resized and the cluster healthy again, touching no other; its apply is held', async () => {
    const resized = [resize('db', 0), resize('db', 1), resize('db', 2)];
    const t = recorder(resized);
    const held: (boolean | undefined)[] = [];
    const terraform = {
      ...t.terraform,
      apply: async (r: TerraformRun, file: string) => {
        held.push(r.holdFirstInterrupt);
        // The Ctrl-C comes while the first droplet is being resized.
        pressed = true;
        return t.terraform.apply(r, file);
      },
    };
    let pressed = false;
    const asked: string[] = [];
    const probe: Probe = async () => {
      asked.push(t.calls.at(-1) ?? 'before');
      return view(true);
    };
    const err = await applyResizes({
      run,
      resized,
      probe,
      resume: 'ha-wordpress up',
      progress: () => undefined,
      terraform,
      everyMs: 1,
      stopRequested: () => pressed,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect((err as Error).message).toBe(
      'resize stopped at Ctrl-C after shop-db-02, which is resized and the cluster healthy again; ' +
        'shop-db-03, shop-db-01 keep their size: run `ha-wordpress up` to resize them',
    );
    expect(t.calls).toEqual(['plan digitalocean_droplet.db[1]', 'apply resize.tfplan']);
    // The cluster was asked after the apply: the stop comes once it is healthy again.
    expect(asked).toEqual(['before', 'apply resize.tfplan']);
    // terraform's apply of the droplet is not cut short by the first Ctrl-C (runners/process.ts holdFirstInterrupt).
    expect(held).toEqual([true]);
  });

  it('a Ctrl-C during the last one lets it finish: nothing is left to stop before', async () => {
    const resized = [resize('web', 0)];
    const t = recorder(resized);
    const done = await applyResizes({ run, resized, resume: 'ha-wordpress up', progress: () => undefined, terraform: t.terraform, stopRequested: () => true });
    expect(done).toEqual(['shop-wp-01']);
  });

  it('resizes nothing when the cluster is not healthy before it starts', async () => {
    const t = recorder([resize('db', 0)]);
    await expect(
      applyResizes({
        run,
        resized: [resize('db', 0)],
        probe: async () => view(false, ['shop-db-03: unreachable (timed out)']),
        resume: 'ha-wordpress up',
        progress: () => {},
        terraform: t.terraform,
      }),
    ).rejects.toThrow(
      'nothing was resized: the cluster is not healthy (shop-db-03: unreachable (timed out)); ' +
        'a resize takes a node out, so fix that first, then run `ha-wordpress up`',
    );
    expect(t.calls).toEqual([]);
  });

  it('stops at the first droplet after which the cluster is not healthy again in time, and touches no other', async () => {
    const resized = [resize('web', 0), resize('web', 1)];
    const t = recorder(resized);
    let n = 0;
    const probe: Probe = async () => (n++ === 0 ? view(true) : view(false, ['shop-wp-01: /healthz answers nothing', 'the site does not answer']));
    const err = await applyResizes({
      run,
      resized,
      probe,
      resume: 'ha-wordpress up',
      progress: () => {},
      terraform: t.terraform,
      backWithinMs: 50,
      everyMs: 5,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(
      'shop-wp-01 was resized but the cluster is not healthy 0 min later (shop-wp-01: /healthz answers nothing, and 1 more); ' +
        'nothing else was resized: once `ha-wordpress status` says healthy, run `ha-wordpress up` to resize the rest',
    );
    expect(t.calls).toEqual(['plan digitalocean_droplet.web[0]', 'apply resize.tfplan']);
  });

  it('applies no targeted plan that would replace or delete anything, or resize another droplet too', async () => {
    const resized = [resize('db', 0)];
    const t = recorder(resized, { replaced: ['digitalocean_droplet.db[0]'] });
    await expect(applyResizes({ run, resized, resume: 'ha-wordpress up', progress: () => {}, terraform: t.terraform })).rejects.toThrow(
      'shop-db-01 was not resized: its plan (terraform plan -target=digitalocean_droplet.db[0]) is not just its resize; run `ha-wordpress up` to plan again',
    );
    expect(t.calls).toEqual(['plan digitalocean_droplet.db[0]']);
  });

  it('takes each node out of its tier after its plan and before its shutdown; one that cannot be taken out stops it, unresized', async () => {
    const resized = [resize('web', 0), resize('web', 1)];
    const t = recorder(resized);
    const takeOut = async (name: string) => {
      t.calls.push(`take out ${name}`);
      if (name === 'shop-wp-02') throw new Error('Failed to stop nginx.service: Unit nginx.service not loaded.');
    };
    const err = await applyResizes({
      run,
      resized,
      probe: async () => view(true),
      takeOut,
      resume: 'ha-wordpress up',
      progress: () => {},
      terraform: t.terraform,
      everyMs: 1,
    }).catch((e: unknown) => e);
    expect(t.calls).toEqual([
      'plan digitalocean_droplet.web[0]',
      'take out shop-wp-01',
      'apply resize.tfplan',
      'plan digitalocean_droplet.web[1]',
      'take out shop-wp-02',
    ]);
    expect((err as Error).message).toBe(
      'shop-wp-02 was not resized: it could not be taken out of its tier cleanly (Failed to stop nginx.service: Unit nginx.service not loaded.); ' +
        'nothing else was resized: see `ha-wordpress status`, then run `ha-wordpress up`',
    );
    // A cluster that never held data has nothing to take out.
    const fresh = recorder(resized);
    const before = t.calls.length;
    await applyResizes({ run, resized, takeOut, resume: 'ha-wordpress up', progress: () => {}, terraform: fresh.terraform });
    expect(fresh.calls).toHaveLength(4);
    expect(t.calls.slice(before)).toEqual([]);
  });

  it('without a gate (a cluster that never held data) still goes one droplet at a time', async () => {
    const resized = [resize('dblb', 1), resize('dblb', 0)];
    const t = recorder(resized);
    expect(await applyResizes({ run, resized, resume: 'ha-wordpress up', progress: () => {}, terraform: t.terraform })).toEqual([
      'shop-dblb-01',
      'shop-dblb-02',
    ]);
    expect(t.calls).toEqual(['plan digitalocean_droplet.dblb[0]', 'apply resize.tfplan', 'plan digitalocean_droplet.dblb[1]', 'apply resize.tfplan']);
  });
});

describe('beyondConfirmed: the plan after the resizes', () => {
  const confirmed = summary({ add: 1, change: 3, replaced: ['digitalocean_droplet.web[2]'], resized: [resize('db', 0)] });
  it('accepts what the confirmed plan had left', () => {
    expect(beyondConfirmed(confirmed, summary({ add: 1, change: 1, replaced: ['digitalocean_droplet.web[2]'] }))).toBeUndefined();
    expect(beyondConfirmed(confirmed, summary())).toBeUndefined();
  });
  it('names what it has that the confirmed plan did not', () => {
    expect(beyondConfirmed(confirmed, summary({ deleted: ['digitalocean_droplet.db[2]'] }))).toBe('digitalocean_droplet.db[2] would change too');
    expect(beyondConfirmed(confirmed, summary({ resized: [resize('db', 1)] }))).toBe('digitalocean_droplet.db[1] would change too');
    expect(beyondConfirmed(confirmed, summary({ add: 2 }))).toBe('2 to add, 0 to change and 0 to destroy now');
    // Three changes confirmed, one of them the resize: a third change now is one nobody confirmed.
    expect(beyondConfirmed(confirmed, summary({ change: 2 }))).toBeUndefined();
    expect(beyondConfirmed(confirmed, summary({ change: 3 }))).toBe('0 to add, 3 to change and 0 to destroy now');
  });
});
