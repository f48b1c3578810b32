/**
 * The infrastructure code a workspace gets from the installed package: the
 * terraform/ and ansible/ trees as shipped (init copies them, docs/architecture.md#the-workspace),
 * and whether the workspace still holds another version of them.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { packagePath } from '../paths.js';
import type { Target } from '../settings/table.js';
import { listFiles, sha256 } from './files.js';
import { readManifest, type PlannedFile } from './workspace.js';

/**
 * Left out of the copy: terraform's own state and plugins, what init renders
 * per workspace (group_vars, tfvars), what up writes (inventory), the
 * package's tests, and Python's bytecode of the playbook's own action plugin
 * and module when something ran them from the package directory.
 */
const SKIP = new Set(['.terraform', 'group_vars', 'inventory', 'tests', '__pycache__']);

/** The shipped files of a target's workspace, as the installed package has them. */
export async function shippedFiles(target: Target): Promise<PlannedFile[]> {
  const files: PlannedFile[] = [];
  for (const tree of target === 'digitalocean' ? ['terraform', 'ansible'] : ['ansible']) {
    const root = packagePath(tree);
    const shipped = await listFiles(root, SKIP).catch(() => {
      throw new UserError(`this installation of ha-wordpress has no ${tree}/ directory (${root}); reinstall the package`);
    });
    for (const rel of shipped) {
      if (/\.tfstate|\.tfvars$|\.new$/.test(rel)) continue;
      const policy = path.posix.basename(rel) === '.terraform.lock.hcl' ? 'seed' : 'managed';
      files.push({ rel: `${tree}/${rel}`, content: await fs.readFile(path.join(root, rel), 'utf8'), mode: 0o644, policy });
    }
  }
  return files;
}

/**
 * The shipped files whose installed version init never wrote into the
 * workspace: neither the file it recorded last nor the `<file>.new` it
 * offered beside a hand-edited one is this version. Hand edits alone are
 * not drift (the recorded hash is init's, not the file's). A workspace
 * without a manifest cannot be judged, and has none.
 */
export async function shippedDrift(dir: string, target: Target): Promise<string[]> {
  const manifest = await readManifest(dir);
  if (Object.keys(manifest.files).length === 0) return [];
  return (await shippedFiles(target))
    .filter((f) => f.policy === 'managed')
    .filter((f) => ![manifest.files[f.rel], manifest.offered?.[f.rel]].includes(sha256(f.content)))
    .map((f) => f.rel);
}

/**
 * Refuses to run another version's playbook or terraform code: the CLI and
 * the workspace's roles change together (new variables, new inventory
 * fields), and a mixed pair was never tested. init brings the workspace's
 * copy up to date and keeps hand edits.
 */
export async function requireCurrentShipped(dir: string, target: Target, command: string): Promise<void> {
  const drift = await shippedDrift(dir, target);
  if (drift.length === 0) return;
  const trees = [...new Set(drift.map((rel) => rel.split('/')[0]))].map((t) => `${t}/`).join(' and ');
  throw new UserError(
    `the workspace's ${trees} ${drift.length === 1 ? 'is' : 'are'} from another version of ha-wordpress ` +
      `(${drift.length === 1 ? '1 file differs' : `${drift.length} files differ`} from this one's, such as ${drift[0]}): ` +
      `run \`ha-wordpress init\` in ${dir} to update ${drift.length === 1 ? 'it' : 'them'} (files you edited are kept, ` +
      `the new version beside each as .new), then \`ha-wordpress ${command}\`; nothing was changed`,
  );
}
