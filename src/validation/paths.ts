/**
 * Path flags (--dir, --ssh-key, --vault-password-file) are checked for
 * length before anything opens them: Linux refuses a path over PATH_MAX or a
 * name over NAME_MAX with ENAMETOOLONG, which reached the user as an
 * "unexpected" error echoing the whole value.
 */
import { preview } from '../errors.js';

/** Linux's PATH_MAX (4096, with the terminating NUL) and NAME_MAX, in bytes. */
export const PATH_MAX_BYTES = 4095;
export const NAME_MAX_BYTES = 255;

export function pathLength(v: string): string | undefined {
  const bytes = Buffer.byteLength(v);
  const longestName = Math.max(0, ...v.split('/').map((name) => Buffer.byteLength(name)));
  if (bytes <= PATH_MAX_BYTES && longestName <= NAME_MAX_BYTES) return undefined;
  const what =
    bytes > PATH_MAX_BYTES ? `${bytes} bytes; at most ${PATH_MAX_BYTES}` : `a name of ${longestName} bytes in it; at most ${NAME_MAX_BYTES} per name`;
  return `the path ${preview(v)} is too long (${what}): give a shorter path`;
}
