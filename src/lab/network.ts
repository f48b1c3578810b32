/**
 * The lab's networks on the host, as a droplet has them: a public bridge
 * with the lab's public /24 (.1 is the host, standing in for DigitalOcean's
 * hypervisor), the metadata address and the reserved IP on it, forwarding
 * only on that bridge; a VPC bridge with no address of the host's (the nodes'
 * private network, switched, never routed); and one nftables table (plan.ts
 * nftRuleset) for the rest. Nothing routes off the machine: containers get no
 * default route, and the table drops any forward that is not bridge → bridge.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { STATE_ROOT } from './dirs.js';
import { METADATA_IP, nftRuleset, preferredOctet, PUBLIC_PREFIX, VPC_PREFIX, type LabPlan } from './plan.js';
import { run, type Ctx } from './sys.js';

interface IpAddr {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

async function addresses(ctx: Ctx, dev?: string): Promise<IpAddr[]> {
  const r = await run(ctx, 'ip', ['-j', '-4', 'addr', 'show', ...(dev ? ['dev', dev] : [])], { okCodes: [1] });
  try {
    return JSON.parse(r.stdout || '[]') as IpAddr[];
  } catch {
    return [];
  }
}

/**
 * The third octet for a new lab: the hash's choice unless another lab (its
 * state) or any interface on this machine already uses 10.213.X.0/24 or
 * 10.214.X.0/24 (its public and VPC networks).
 */
export async function pickOctet(ctx: Ctx, hash: string, labId: string): Promise<number> {
  const used = new Set<number>();
  for (const a of await addresses(ctx))
    for (const i of a.addr_info ?? []) {
      const [a, b, c] = i.local.split('.');
      if (`${a}.${b}` === PUBLIC_PREFIX || `${a}.${b}` === VPC_PREFIX) used.add(Number(c));
    }
  for (const lab of await fs.readdir(STATE_ROOT).catch(() => [] as string[])) {
    if (lab === labId) continue;
    const s = await fs.readFile(path.join(STATE_ROOT, lab, 'state.json'), 'utf8').catch(() => '');
    const m = s.match(/"octet":\s*(\d+)/);
    if (m) used.add(Number(m[1]));
  }
  const first = preferredOctet(hash);
  for (let i = 0; i < 254; i++) {
    const o = ((first - 1 + i) % 254) + 1;
    if (!used.has(o)) return o;
  }
  throw new UserError(
    'every 10.213.X.0/24 (and 10.214.X.0/24) lab network on this machine is taken; ' +
      'destroy a lab you no longer need (ha-wordpress destroy in its workspace), then run up again',
  );
}

const sysctl = (key: string, value: string) => fs.writeFile(path.join('/proc/sys', key.replace(/\./g, '/')), value);

export async function linkExists(ctx: Ctx, dev: string): Promise<boolean> {
  const r = await run(ctx, 'ip', ['link', 'show', 'dev', dev], { okCodes: [1, 255] });
  return r.code === 0;
}

/** Makes a bridge unless it exists (no IPv6 on it: nothing in the lab uses it, and the containers get none either); says whether it made it. */
async function bridge(ctx: Ctx, br: string): Promise<boolean> {
  const made = !(await linkExists(ctx, br));
  if (made) await run(ctx, 'ip', ['link', 'add', br, 'type', 'bridge', 'stp_state', '0']);
  await sysctl(`net.ipv6.conf.${br}.disable_ipv6`, '1').catch(() => undefined);
  await run(ctx, 'ip', ['link', 'set', br, 'up']);
  return made;
}

/** Both bridges; the public one with the host's addresses on it. Says whether anything changed. */
export async function ensureBridges(ctx: Ctx, plan: LabPlan): Promise<boolean> {
  const br = plan.bridge;
  let changed = await bridge(ctx, plan.vpcBridge);
  if (await bridge(ctx, br)) changed = true;
  // Forwarding on this interface only (the nodes' public traffic and the reserved IP's DNAT route bridge → bridge); the host's
  // other interfaces keep whatever net.ipv4.ip_forward says, and the lab table drops anything else.
  await sysctl(`net.ipv4.conf.${br}.forwarding`, '1');
  await sysctl(`net.ipv4.conf.${br}.send_redirects`, '0');
  const have = new Set((await addresses(ctx, br)).flatMap((a) => (a.addr_info ?? []).map((i) => `${i.local}/${i.prefixlen}`)));
  for (const want of [`${plan.bridgeIp}/24`, `${METADATA_IP}/32`, `${plan.reservedIp}/32`]) {
    if (have.has(want)) continue;
    await run(ctx, 'ip', ['addr', 'add', want, 'dev', br]);
    changed = true;
  }
  return changed;
}

/** Writes the lab's nftables table unless the one in the kernel is already this version of it. */
export async function ensureTable(ctx: Ctx, plan: LabPlan, holderAddress: string | undefined): Promise<boolean> {
  const stamp = createHash('sha256')
    .update(nftRuleset(plan, undefined, ''))
    .digest('hex')
    .slice(0, 12);
  const cur = await run(ctx, 'nft', ['list', 'table', 'ip', plan.nftTable], { okCodes: [1] });
  if (cur.code === 0 && cur.stdout.includes(stamp) && (!holderAddress || cur.stdout.includes(`${plan.reservedIp} : ${holderAddress}`))) return false;
  await run(ctx, 'nft', ['-f', '-'], { input: nftRuleset(plan, holderAddress, stamp) });
  return true;
}

export async function removeNetwork(ctx: Ctx, plan: Pick<LabPlan, 'bridge' | 'vpcBridge' | 'nftTable'>): Promise<void> {
  await run(ctx, 'nft', ['delete', 'table', 'ip', plan.nftTable], { okCodes: [1] });
  // Deleting a bridge takes its addresses and their routes with it.
  for (const br of [plan.bridge, plan.vpcBridge]) if (await linkExists(ctx, br)) await run(ctx, 'ip', ['link', 'delete', br]);
}
