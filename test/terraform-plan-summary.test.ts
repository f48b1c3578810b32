/**
 * How `up` and `destroy` read a plan (`terraform show -json`): the counts,
 * what is replaced or destroyed, and the VPCs that DigitalOcean made their
 * region's default, which `destroy` must leave out (the API answers 403 and
 * the provider retries that for two minutes before failing the destroy).
 */
import { describe, expect, it } from 'vitest';
import { summarisePlan } from '../src/runners/terraform.js';

const vpc = (address: string, values: Record<string, unknown>) => ({
  address,
  mode: 'managed',
  type: 'digitalocean_vpc',
  values: { id: `id-${address}`, name: `${address}-name`, region: 'ams3', ...values },
});

function plan(changes: [string, string[]][], priorResources: unknown[], childModules: unknown[] = []) {
  return JSON.stringify({
    resource_changes: changes.map(([address, actions]) => ({ address, mode: 'managed', change: { actions } })),
    prior_state: { values: { root_module: { resources: priorResources, child_modules: childModules } } },
  });
}

describe('summarisePlan', () => {
  it("names a default VPC that the plan deletes, with its id, name and region from the provider's state", () => {
    const s = summarisePlan(
      plan(
        [
          ['digitalocean_vpc.cluster', ['delete']],
          ['digitalocean_droplet.web[0]', ['delete']],
        ],
        [
          vpc('digitalocean_vpc.cluster', { default: true }),
          { address: 'digitalocean_droplet.web[0]', mode: 'managed', type: 'digitalocean_droplet', values: { id: '1' } },
        ],
      ),
    );
    expect(s).toMatchObject({ add: 0, change: 0, destroy: 2, deleted: ['digitalocean_vpc.cluster', 'digitalocean_droplet.web[0]'] });
    expect(s.defaultVpcs).toEqual([
      { address: 'digitalocean_vpc.cluster', id: 'id-digitalocean_vpc.cluster', name: 'digitalocean_vpc.cluster-name', region: 'ams3' },
    ]);
  });

  it("leaves out VPCs that are not their region's default, and default VPCs the plan keeps", () => {
    const s = summarisePlan(
      plan(
        [
          ['digitalocean_vpc.a', ['delete']],
          ['digitalocean_vpc.b', ['no-op']],
        ],
        [vpc('digitalocean_vpc.a', { default: false }), vpc('digitalocean_vpc.b', { default: true })],
      ),
    );
    expect(s.destroy).toBe(1);
    expect(s.defaultVpcs).toEqual([]);
  });

  it('finds a default VPC in a child module, and one the plan replaces', () => {
    const s = summarisePlan(
      plan([['module.net.digitalocean_vpc.x', ['delete', 'create']]], [], [{ resources: [vpc('module.net.digitalocean_vpc.x', { default: true })] }]),
    );
    expect(s.replaced).toEqual(['module.net.digitalocean_vpc.x']);
    expect(s.defaultVpcs.map((v) => v.address)).toEqual(['module.net.digitalocean_vpc.x']);
  });

  it('reads a plan without prior state (nothing applied yet) as having no default VPC', () => {
    const s = summarisePlan(JSON.stringify({ resource_changes: [{ address: 'digitalocean_vpc.cluster', mode: 'managed', change: { actions: ['create'] } }] }));
    expect(s).toMatchObject({ add: 1, destroy: 0, defaultVpcs: [] });
  });

  it('names the droplets the plan creates or replaces (they come with new SSH host keys), from the names terraform planned', () => {
    const droplet = (address: string, actions: string[], before: object | null, after: object | null) => ({
      address,
      mode: 'managed',
      type: 'digitalocean_droplet',
      change: { actions, before, after },
    });
    const s = summarisePlan(
      JSON.stringify({
        resource_changes: [
          droplet('digitalocean_droplet.web[0]', ['delete', 'create'], { name: 'shop-wp-01' }, { name: 'shop-wp-01' }),
          droplet('digitalocean_droplet.db[1]', ['create', 'delete'], { name: 'shop-db-02' }, {}),
          droplet('digitalocean_droplet.web[3]', ['create'], null, { name: 'shop-wp-04' }),
          droplet('digitalocean_droplet.web[2]', ['delete'], { name: 'shop-wp-03' }, null),
          droplet('digitalocean_droplet.db[0]', ['update'], { name: 'shop-db-01' }, { name: 'shop-db-01' }),
          droplet('digitalocean_droplet.dblb[0]', ['no-op'], { name: 'shop-dblb-01' }, { name: 'shop-dblb-01' }),
          { address: 'digitalocean_vpc.cluster', mode: 'managed', type: 'digitalocean_vpc', change: { actions: ['create'], after: { name: 'shop-vpc' } } },
        ],
      }),
    );
    expect(s.newDroplets).toEqual(['shop-wp-01', 'shop-db-02', 'shop-wp-04']);
    expect(s.replaced).toEqual(['digitalocean_droplet.web[0]', 'digitalocean_droplet.db[1]']);
  });
});
