import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The installed package's root (where templates/, terraform/ and ansible/
 * ship), found from this file's location so it works from the repo, from
 * node_modules and from an npx cache alike.
 */
export const PACKAGE_ROOT = path.resolve(__dirname, '..');

export function packagePath(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts);
}

let version: string | undefined;
export function toolVersion(): string {
  version ??= (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
  return version;
}
