/**
 * Rules for user-supplied secrets, derived from every place ("sink") the
 * value ends up in. Each secret setting lists its sinks; the validator is the
 * composition of their rules, so adding a sink to a setting tightens exactly
 * what that sink needs.
 *
 * Sinks and what breaks them:
 * - yaml: nothing, the YAML library writes every value (never concatenation).
 * - jinja: Ansible templates every string it reads from group_vars, so "{{",
 *   "{%" and "{#" start template syntax (the guide's first known issue).
 *   And group_vars reach the vault through `x: "{{ vault_x }}"`: a result
 *   that starts with "{" or "[" is then evaluated as a Python literal, so
 *   "{'a':1}" would arrive as a dict (found while writing the roles).
 * - galera-check: the guide's clustercheck script put the Galera passwords in
 *   bash source, where "$" expanded (its second known issue). Our roles use
 *   option files, but "$" stays refused so the workspace also works with
 *   hand-ported roles from the guide (docs/cluster.md#escaping).
 * - option-file: MariaDB option files; the roles write `password="…"` and
 *   escape `\` and `"`, so only the common rules apply.
 * - php: single-quoted PHP strings; the roles escape `\` and `'`.
 * - haproxy: `stats auth user:pass` is split on whitespace, "#" starts a
 *   comment, and quotes and backslashes are interpreted by its parser.
 *
 * Common to all: printable ASCII without spaces (surrounding spaces are
 * trimmed by option files and password files; non-ASCII bytes differ between
 * PHP, MariaDB and haproxy), 12-128 characters.
 */
import type { Check } from './rules.js';

export type Sink = 'yaml' | 'jinja' | 'galera-check' | 'option-file' | 'php' | 'haproxy';

const common: Check = (v) => {
  if (v.length < 12) return 'use at least 12 characters (or leave it out to have one generated)';
  if (v.length > 128) return 'use at most 128 characters';
  const bad = [...v].find((c) => c < '!' || c > '~');
  if (bad !== undefined) return bad === ' ' ? 'must not contain spaces' : 'use printable ASCII characters only (no spaces, control or non-ASCII characters)';
  return undefined;
};

const sinkRules: Record<Sink, Check> = {
  yaml: () => undefined,
  'option-file': () => undefined,
  php: () => undefined,
  jinja: (v) => {
    const m = /\{[{%#]/.exec(v);
    if (m) return `must not contain "${m[0]}": Ansible reads it as the start of template syntax`;
    if (/^[[{]/.test(v)) return `must not start with "${v[0]}": Ansible would read the value as a ${v[0] === '[' ? 'list' : 'dictionary'}`;
    return undefined;
  },
  'galera-check': (v) => (v.includes('$') ? 'must not contain "$": it breaks the Galera health check that HAProxy uses' : undefined),
  haproxy: (v) => {
    const bad = [...v].find((c) => '#"\'\\'.includes(c));
    return bad ? `must not contain ${JSON.stringify(bad)}: haproxy.cfg cannot carry it in "stats auth"` : undefined;
  },
};

export function secretCheck(sinks: readonly Sink[]): Check {
  return (v) => {
    const problem = common(v);
    if (problem) return problem;
    for (const sink of sinks) {
      const p = sinkRules[sink](v);
      if (p) return p;
    }
    return undefined;
  };
}
