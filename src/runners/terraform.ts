/**
 * terraform as `up` and `destroy` drive it: init, plan to a file, read the
 * plan back as JSON for the summary, apply exactly that file, read outputs.
 * The API token is only ever in the child's environment.
 */
import { UserError } from '../errors.js';
import { childEnv, pick } from './env.js';
import { probe, runChild, type PhaseLog, type RunResult } from './process.js';

export const PLAN_FILE = 'tfplan';
export const DESTROY_PLAN_FILE = 'destroy.tfplan';
/** One droplet's resize, planned on its own (`up` applies resizes one droplet at a time). */
export const RESIZE_PLAN_FILE = 'resize.tfplan';

export const TERRAFORM_HINT =
  "install Terraform 1.5 or newer (https://developer.hashicorp.com/terraform/install: HashiCorp's apt repository, or the zip on PATH)";

/** The installed terraform's version, or undefined when there is none. */
export async function terraformVersion(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const out = await probe('terraform', ['version', '-json'], childEnv(env));
  if (out === undefined) return undefined;
  try {
    return (JSON.parse(out) as { terraform_version?: string }).terraform_version;
  } catch {
    return out.match(/Terraform v(\S+)/)?.[1];
  }
}

export interface PlanSummary {
  add: number;
  change: number;
  destroy: number;
  /** Addresses replaced (destroyed and created again): data on them is lost. */
  replaced: string[];
  /** Addresses only destroyed. */
  deleted: string[];
  /** VPCs the plan would delete that DigitalOcean made their region's default (see DefaultVpc). */
  defaultVpcs: DefaultVpc[];
  /**
   * Droplets the plan creates or replaces, by name (the inventory's host
   * names, terraform/outputs.tf): they answer SSH with new host keys.
   */
  newDroplets: string[];
  /**
   * Droplets the plan resizes in place. The provider shuts each one down for
   * it, and applies a tier's droplets in parallel: `up` applies them one at a
   * time instead (docs/operations.md#resize).
   */
  resized: Resize[];
  /** Droplets the plan only deletes (a lower count), by name: they leave the cluster cleanly first (commands/retire.ts). */
  deletedDroplets: string[];
}

export interface Resize {
  address: string;
  name: string;
  from: string;
  to: string;
}

/**
 * A VPC that is its region's default: DigitalOcean makes the first VPC of a
 * region the default and never deletes a default VPC (403). The provider
 * retries that 403 for two minutes before the whole destroy fails, so
 * `destroy` leaves such a VPC out of terraform's state instead.
 */
export interface DefaultVpc {
  address: string;
  id: string;
  name: string;
  region: string;
}

interface StateResource {
  address: string;
  mode?: string;
  type: string;
  values?: Record<string, unknown>;
}
interface StateModule {
  resources?: StateResource[];
  child_modules?: StateModule[];
}
interface PlanJson {
  resource_changes?: {
    address: string;
    mode?: string;
    type?: string;
    change: { actions: string[]; before?: { name?: unknown; size?: unknown } | null; after?: { name?: unknown; size?: unknown } | null };
  }[];
  prior_state?: { values?: { root_module?: StateModule } };
}

function stateResources(m: StateModule | undefined): StateResource[] {
  return m ? [...(m.resources ?? []), ...(m.child_modules ?? []).flatMap(stateResources)] : [];
}

/** The counts terraform prints as "Plan: N to add, N to change, N to destroy", from `terraform show -json`. */
export function summarisePlan(json: string): PlanSummary {
  let plan: PlanJson;
  try {
    plan = JSON.parse(json) as PlanJson;
  } catch {
    throw new UserError("terraform show -json did not print JSON; run `terraform show` in the workspace's terraform/ to see why");
  }
  const s: PlanSummary = { add: 0, change: 0, destroy: 0, replaced: [], deleted: [], defaultVpcs: [], newDroplets: [], resized: [], deletedDroplets: [] };
  for (const rc of plan.resource_changes ?? []) {
    if (rc.mode === 'data') continue;
    const a = rc.change.actions;
    if (a.includes('create') && rc.type === 'digitalocean_droplet') {
      // The name comes from variables only (format() of the project), so the plan knows it.
      const name = rc.change.after?.name ?? rc.change.before?.name;
      if (typeof name === 'string' && name) s.newDroplets.push(name);
    }
    if (a.includes('create') && a.includes('delete')) {
      s.add++;
      s.destroy++;
      s.replaced.push(rc.address);
    } else if (a.includes('create')) s.add++;
    else if (a.includes('delete')) {
      s.destroy++;
      s.deleted.push(rc.address);
      if (rc.type === 'digitalocean_droplet' && typeof rc.change.before?.name === 'string') s.deletedDroplets.push(rc.change.before.name);
    } else if (a.includes('update')) {
      s.change++;
      const { before, after } = rc.change;
      if (rc.type === 'digitalocean_droplet' && typeof before?.size === 'string' && typeof after?.size === 'string' && before.size !== after.size)
        s.resized.push({ address: rc.address, name: String(after.name ?? before.name ?? rc.address), from: before.size, to: after.size });
    }
  }
  // The provider's own `default` attribute, as the plan's refresh read it.
  const deleting = new Set([...s.deleted, ...s.replaced]);
  for (const r of stateResources(plan.prior_state?.values?.root_module)) {
    if (r.mode === 'managed' && r.type === 'digitalocean_vpc' && r.values?.default === true && deleting.has(r.address))
      s.defaultVpcs.push({ address: r.address, id: String(r.values.id ?? ''), name: String(r.values.name ?? ''), region: String(r.values.region ?? '') });
  }
  return s;
}

export const hasChanges = (s: PlanSummary) => s.add + s.change + s.destroy > 0;

/**
 * What terraform needs besides the allow-listed part of the user's
 * environment (runners/env.ts): the API token and URL and the Spaces keys,
 * which the provider reads from its environment, the key of the site's own
 * certificate (var.tls_private_key, from terraform's vault: runners/env.ts
 * leaves every other TF_VAR_* out), and no prompting.
 */
export const TERRAFORM_VARS = [
  'DIGITALOCEAN_TOKEN',
  'DIGITALOCEAN_API_URL',
  'SPACES_ACCESS_KEY_ID',
  'SPACES_SECRET_ACCESS_KEY',
  'TF_VAR_tls_private_key',
  'TF_IN_AUTOMATION',
  'TF_INPUT',
] as const;

export interface TerraformRun {
  dir: string;
  /**
   * The user's environment with TERRAFORM_VARS set (commands/operate.ts
   * terraformEnv): only the allow-listed part and TERRAFORM_VARS reach
   * terraform.
   */
  env: NodeJS.ProcessEnv;
  log: PhaseLog;
  onLine?: (line: string) => void;
  onInterrupt?: (n: number) => void;
  /** A run a command's first Ctrl-C must not cut short (runners/process.ts RunOptions.holdFirstInterrupt). */
  holdFirstInterrupt?: boolean;
}

/** terraform in `dir` as part of a phase (commands/operate.ts phase): the phase's log, streamed lines and Ctrl-C handling. */
export const inPhase = (dir: string, env: NodeJS.ProcessEnv, p: Pick<TerraformRun, 'log' | 'onLine' | 'onInterrupt'>): TerraformRun => ({
  dir,
  env,
  log: p.log,
  onLine: p.onLine,
  onInterrupt: p.onInterrupt,
});

/** Runs one terraform command; a non-zero exit is a StepFailure naming it (`terraform apply`) with the output's last lines. */
export function terraform(run: TerraformRun, args: string[], capture = false): Promise<RunResult> {
  return runChild('terraform', args, {
    cwd: run.dir,
    env: childEnv(run.env, pick(run.env, TERRAFORM_VARS)),
    log: run.log,
    step: `terraform ${args[0]}`,
    onLine: run.onLine,
    onInterrupt: run.onInterrupt,
    holdFirstInterrupt: run.holdFirstInterrupt,
    capture,
  });
}

export async function init(run: TerraformRun): Promise<void> {
  await terraform(run, ['init', '-input=false', '-no-color']);
}

/**
 * A plan into its file; `target`: of these resources only (and what they depend on), into RESIZE_PLAN_FILE;
 * `replace`: these resources destroyed and created again (`ha-wordpress replace`).
 */
export async function plan(run: TerraformRun, opts: { destroy?: boolean; target?: string[]; replace?: string[] } = {}): Promise<PlanSummary> {
  const file = opts.destroy ? DESTROY_PLAN_FILE : opts.target ? RESIZE_PLAN_FILE : PLAN_FILE;
  const targets = (opts.target ?? []).map((t) => `-target=${t}`);
  const replace = (opts.replace ?? []).map((t) => `-replace=${t}`);
  await terraform(run, ['plan', '-input=false', '-no-color', ...(opts.destroy ? ['-destroy'] : []), ...targets, ...replace, `-out=${file}`]);
  const shown = await terraform(run, ['show', '-json', '-no-color', file], true);
  return summarisePlan(shown.stdout);
}

export async function apply(run: TerraformRun, planFile: string): Promise<void> {
  await terraform(run, ['apply', '-input=false', '-no-color', planFile]);
}

/** Removes resources from terraform's state only: what they are on DigitalOcean stays as it is. */
export async function forget(run: TerraformRun, addresses: string[]): Promise<void> {
  await terraform(run, ['state', 'rm', '-no-color', ...addresses]);
}

export async function outputs(run: TerraformRun): Promise<Record<string, unknown>> {
  const r = await terraform(run, ['output', '-json', '-no-color'], true);
  try {
    const raw = JSON.parse(r.stdout) as Record<string, { value: unknown }>;
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v?.value]));
  } catch {
    throw new UserError("terraform output -json did not print JSON; run `terraform output` in the workspace's terraform/ to see why");
  }
}
