/**
 * The environment of terraform and ansible-playbook: an allow-list of the
 * user's variables, plus exactly what each tool needs, given by its driver.
 *
 * Why an allow-list and not a deny-list: the user's environment holds our
 * own secrets under names we know (HA_WORDPRESS_WP_ADMIN_PASSWORD,
 * DIGITALOCEAN_TOKEN…) and theirs under names we cannot know (a CI job's
 * AWS keys, a registry token). Every child process, its plugins and its
 * forked workers can read its environment, and terraform's and ansible's
 * debug output can print it. So a child sees only what it needs to run on
 * this machine:
 * - the basics: PATH, HOME, USER, LOGNAME, SHELL, LANG, LANGUAGE, LC_*, TZ,
 *   TERM, TMPDIR;
 * - SSH_AUTH_SOCK, so ansible's ssh can use a key held by ssh-agent;
 * - the proxies (http_proxy, https_proxy, no_proxy, all_proxy, both cases)
 *   and the TLS trust store (SSL_CERT_FILE, SSL_CERT_DIR): terraform
 *   downloads its provider through them. A proxy URL may carry the user's
 *   proxy password; it is the user's own, given for exactly this;
 * - terraform's own settings that change where it logs to stderr or finds
 *   providers, not what it does: TF_LOG, TF_LOG_CORE, TF_LOG_PROVIDER,
 *   TF_CLI_CONFIG_FILE, TF_PLUGIN_CACHE_DIR,
 *   TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE,
 *   TF_REGISTRY_DISCOVERY_RETRY, TF_REGISTRY_CLIENT_TIMEOUT and
 *   CHECKPOINT_DISABLE.
 *
 * Left out on purpose: TF_VAR_* and TF_TOKEN_* (values and registry
 * credentials, often secret), TF_CLI_ARGS* (would change the plan that is
 * applied), TF_DATA_DIR and TF_WORKSPACE (would move the state),
 * TF_LOG_PATH (the provider's debug log, request headers and all, written
 * to a file nothing scrubs), and every ANSIBLE_* variable: the workspace's
 * ansible.cfg is the playbook's configuration, and a stray
 * ANSIBLE_HOST_KEY_CHECKING or ANSIBLE_DISPLAY_ARGS_TO_STDOUT would undo the
 * host-key trust or print secrets.
 *
 * HA_WORDPRESS_CHILD_ENV (comma-separated names, `PREFIX_*` for a prefix)
 * lets the user pass more, for a setup this list does not foresee. It
 * never passes our own namespaces (HA_WORDPRESS_*, DIGITALOCEAN_*,
 * SPACES_*): those reach a child only as its driver gives them.
 */

const BASICS = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TERM',
  'TMPDIR',
  'SSH_AUTH_SOCK',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'all_proxy',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'ALL_PROXY',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'TF_LOG',
  'TF_LOG_CORE',
  'TF_LOG_PROVIDER',
  'TF_CLI_CONFIG_FILE',
  'TF_PLUGIN_CACHE_DIR',
  'TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE',
  'TF_REGISTRY_DISCOVERY_RETRY',
  'TF_REGISTRY_CLIENT_TIMEOUT',
  'CHECKPOINT_DISABLE',
];
const PREFIXES = ['LC_'];

/** The variable naming further variables to pass. */
export const PASS_ENV = 'HA_WORDPRESS_CHILD_ENV';
/** Never passed from the user's environment, whatever PASS_ENV says: our secrets and settings live under these. */
const OURS = /^(HA_WORDPRESS_|DIGITALOCEAN_|SPACES_)/;

interface Extra {
  names: Set<string>;
  prefixes: string[];
}

/** The names (and `PREFIX_*` prefixes) the user asked to pass through. */
function extraNames(user: NodeJS.ProcessEnv): Extra {
  const names = new Set<string>();
  const prefixes: string[] = [];
  for (const item of (user[PASS_ENV] ?? '').split(',')) {
    const n = item.trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*\*?$/.test(n)) continue;
    if (n.endsWith('*')) prefixes.push(n.slice(0, -1));
    else names.add(n);
  }
  return { names, prefixes };
}

function passes(name: string, extra: Extra): boolean {
  if (BASICS.includes(name) || PREFIXES.some((p) => name.startsWith(p))) return true;
  if (OURS.test(name)) return false;
  return extra.names.has(name) || extra.prefixes.some((p) => name.startsWith(p));
}

/**
 * A child's whole environment: the allow-listed part of `user`, then `own`
 * (what this child needs: its token, its configuration), which wins.
 * Undefined values in `own` are left out.
 */
export function childEnv(user: NodeJS.ProcessEnv, own: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const extra = extraNames(user);
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(user)) if (v !== undefined && passes(k, extra)) out[k] = v;
  // Names only, no secret: kept so that filtering again (a driver after its caller) keeps what it named.
  if (user[PASS_ENV]) out[PASS_ENV] = user[PASS_ENV];
  for (const [k, v] of Object.entries(own)) if (v !== undefined) out[k] = v;
  return out;
}

/** The variables of `env` named in `names` (a driver's own variables, as the caller set them). */
export function pick(env: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string | undefined> {
  return Object.fromEntries(names.map((n) => [n, env[n]]));
}
