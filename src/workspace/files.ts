import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

export const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * Writes through a temporary file in the same directory and renames it into
 * place, so a crash or Ctrl-C leaves either the old file or the new one,
 * never half of one. The mode is set before the rename, so a secret file is
 * never readable by others even for a moment.
 */
export async function writeAtomic(file: string, data: string, mode = 0o644): Promise<void> {
  // An explicit mode: with a umask of 000 the default would make the directories world-writable.
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** The names writeAtomic gives its temporary files. */
export const TEMPORARY = /^\..+\.[0-9a-f]{12}\.tmp$/;

export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Every file under `dir` (relative paths, '/'-separated), skipping `skip` directory names. */
export async function listFiles(dir: string, skip: ReadonlySet<string> = new Set()): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    const entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!skip.has(e.name)) await walk(r);
      } else if (e.isFile()) out.push(r);
    }
  }
  await walk('');
  return out;
}
