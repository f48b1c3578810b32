/**
 * Where init writes, and what is there already: --dir, else the current
 * directory when it is a workspace, else ./<project>. An existing workspace's
 * settings become the resolver's existing values (kept unless changed), and
 * its target cannot change.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { Context } from '../commands/context.js';
import { precheck, type Resolver } from '../settings/resolve.js';
import { valuesFromSettingsFile } from '../settings/stored.js';
import { appliesTo, SETTING, SETTINGS, type SettingKey, type Target } from '../settings/table.js';
import { expandHome } from '../ssh/keys.js';
import { pathLength } from '../validation/paths.js';
import { readIfExists } from '../workspace/files.js';
import { ansiblePathProblem, isWorkspace, readSettingsFile, TF_VAULT, VAULT_PASS_FILE } from '../workspace/workspace.js';

export interface Where {
  dir: string;
  target: Target;
  project: string;
  /** The existing workspace's ha-wordpress.yml, when there is one. */
  stored?: Record<string, unknown>;
}

export async function locate(ctx: Context, r: Resolver): Promise<Where> {
  const tooLong = ctx.options.dir !== undefined ? pathLength(ctx.options.dir) : undefined;
  if (tooLong) throw new UsageError(`--dir: ${tooLong}`);
  let dir = ctx.options.dir !== undefined ? path.resolve(ctx.cwd, expandHome(ctx.options.dir, ctx.home)) : (await isWorkspace(ctx.cwd)) ? ctx.cwd : undefined;
  let stored: Record<string, unknown> | undefined;
  /** Makes the workspace at `at`, if there is one, the source of existing values. */
  const adopt = async (at: string) => {
    if (stored || !(await isWorkspace(at))) return;
    stored = await readSettingsFile(at);
    r.existing = valuesFromSettingsFile(stored);
  };
  if (dir) await adopt(dir);

  // Without a terminal, every bad and missing value is reported at once, before anything else.
  if (!ctx.interactive) {
    const target = (ctx.flags.target as string | undefined) ?? r.existing.target;
    const project = (ctx.flags.project as string | undefined) ?? r.existing.project ?? SETTING.project.default!({})!;
    const probeDir = dir ?? path.resolve(ctx.cwd, project);
    await adopt(probeDir);
    const present = new Set<SettingKey>();
    if (stored && (await readIfExists(path.join(probeDir, TF_VAULT)))) present.add('token');
    if (stored && (await readIfExists(path.join(probeDir, VAULT_PASS_FILE)))) present.add('vaultPasswordFile');
    const problems = precheck(target === 'local' ? 'local' : 'digitalocean', ctx.flags, ctx.env, r.existing, present);
    if (problems.length) throw new UsageError(problems.join('\n'));
  }

  const target = (await r.settle(SETTING.target)) as Target;
  const sameTarget = (where: string) => {
    if (r.existing.target && r.existing.target !== target)
      throw new UsageError(`--target: the workspace ${where} was made for ${r.existing.target}; use another --dir for a ${target} cluster`);
  };
  sameTarget(dir ?? ctx.cwd);
  const project = (await r.settle(SETTING.project))!;
  if (!dir) {
    dir = path.resolve(ctx.cwd, project);
    await adopt(dir);
    sameTarget(dir);
  }
  for (const s of SETTINGS) {
    const g = !appliesTo(s, target) && r.given(s);
    if (g) ctx.log.warn(`${g.source} does not apply to --target ${target} and is ignored`);
  }
  const unusable = ansiblePathProblem(dir, ctx.options.dir !== undefined ? '--dir' : 'the workspace directory');
  if (unusable) throw new UsageError(unusable);
  if (!stored) await checkDirUsable(dir);
  return { dir, target, project, stored };
}

async function checkDirUsable(dir: string): Promise<void> {
  try {
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw new UsageError(`--dir: ${dir} is a file; choose a new or empty directory`);
    const entries = await fs.readdir(dir);
    if (entries.length > 0) throw new UsageError(`--dir: ${dir} is not empty and is not an ha-wordpress workspace; choose a new or empty directory`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
