/**
 * The command-line program: commander options built from the settings table,
 * and the one top-level error handler. Only commander and the (pure) settings
 * table load at start-up; each command's code is imported when it runs, so
 * `--help` and `--version` stay close to bare `node` start-up.
 */
import { Command, CommanderError, Option } from 'commander';
import { CancelledError, UsageError, UserError } from './errors.js';
import { toolVersion } from './paths.js';
import { logger, scrub } from './ui/logger.js';

const INIT_EXAMPLES = `
Examples:
  $ npx ha-wordpress init
      the wizard: asks, checks against your DigitalOcean account, writes ./<project>

  $ DIGITALOCEAN_TOKEN=dop_v1_… ha-wordpress init --non-interactive \\
      --project shop --region fra1 --domain shop.example.com \\
      --vault-password-file ~/.config/shop.vault-pass
      scripted (CI): every missing value is reported at once, nothing is asked

  $ ha-wordpress init --target local --non-interactive --yes --dir lab --vault-password-file pw.txt
      a local lab of system containers: no cloud account needed

  $ ha-wordpress init --dir shop --rotate haproxy-stats-password
      run again on a workspace: keeps every secret except the ones named

Without a terminal (or with --non-interactive) init never prompts. Secrets
are generated unless given; prefer the HA_WORDPRESS_* environment variables
to flags for secrets, because flags are visible to other users in \`ps\`.`;

const UP_EXAMPLES = `
Examples:
  $ cd shop && ha-wordpress up
      plan, confirm, apply; then wait for the droplets and run the playbook

  $ ha-wordpress up --dir shop --yes --non-interactive --vault-password-file ~/.config/shop.vault-pass
      scripted (CI): applies the plan without asking

  $ ha-wordpress up --only ansible
      configure again (after editing group_vars, or to resume a failed playbook)

A failed phase names itself, shows terraform's or ansible's last lines and
the command that resumes; the full output is in .ha-wordpress/logs/.
Ctrl-C stops terraform gracefully, so its state lock is released.`;

const DESTROY_EXAMPLES = `
Examples:
  $ cd shop && ha-wordpress destroy
      shows what goes, then asks you to type the project name

  $ ha-wordpress destroy --dir shop --yes --purge
      scripted: no question, and the workspace is deleted afterwards`;

const STATUS_EXAMPLES = `
Examples:
  $ cd shop && ha-wordpress status
      a table: each node's services, Galera state, HAProxy backends, who holds the reserved IP

  $ ha-wordpress status --dir shop --json || alert-someone
      for scripts and monitors: exit code 0 healthy, 3 degraded, 1 or 2 when status itself failed

Every node is asked at once over SSH with the project key, trusting only the
host keys that up recorded; the site is asked through the load balancer.`;

const DRILL_EXAMPLES = `
Examples:
  $ cd lab && ha-wordpress drill
      the four losses the cluster must survive by itself, one after another,
      under steady requests and writes; a table of outages and lost writes

  $ ha-wordpress drill --dir lab --json --scenario galera-node-kill,full-stop
      chosen scenarios; full-stop shuts every database node down and recovers
      with up (full-crash kills them all at once)

Scenarios: haproxy-holder-stop, galera-node-kill, web-node-stop, one-of-each
(the default set); haproxy-holder-kill, web-node-kill, full-stop, full-crash
on request. Exit code 0 when every outage is within budget (5 s for one
node, 10 s for one of each tier), no acknowledged write is lost, every
scenario healed and status saw each failure within 10 s; 3 otherwise.
Local target only: it breaks nodes on purpose.`;

/** Options every command that works on an existing workspace shares. */
const DIR_OPTION = ['--dir <path>', 'the workspace (default: the current directory)'] as const;
const VAULT_PASSWORD_OPTION = [
  '--vault-password-file <path>',
  "file holding the vault password [env: HA_WORDPRESS_VAULT_PASSWORD] (default: the workspace's .vault-pass)",
] as const;

/** What every command needs from the command line and the process. */
async function operationContext(opts: Record<string, unknown>) {
  const [{ terminalPrompts }, os] = await Promise.all([import('./ui/prompts.js'), import('node:os')]);
  return {
    flags: opts,
    env: process.env,
    cwd: process.cwd(),
    home: process.env.HOME || os.homedir(),
    interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY) && !opts.nonInteractive,
    yes: Boolean(opts.yes),
    verbose: Boolean(opts.verbose),
    prompts: terminalPrompts,
    log: logger,
  };
}

type OperationContext = Awaited<ReturnType<typeof operationContext>>;

/**
 * A command that works on an existing workspace: --dir first among its
 * options, its examples after them, and its module loaded (alongside the
 * context) only when it runs, so --help stays light. The caller adds the
 * command's own options to what this returns.
 */
function workspaceCommand<M>(
  program: Command,
  name: string,
  description: string,
  examples: string,
  load: () => Promise<M>,
  run: (mod: M, base: OperationContext, opts: Record<string, unknown>) => Promise<void>,
): Command {
  return program
    .command(name)
    .description(description)
    .option(...DIR_OPTION)
    .addHelpText('after', examples)
    .exitOverride()
    .action(async (opts: Record<string, unknown>) => {
      const [mod, base] = await Promise.all([load(), operationContext(opts)]);
      await run(mod, base, opts);
    });
}

export function buildProgram(withInitOptions = true): Command {
  const program = new Command('ha-wordpress')
    .description('A highly available WordPress cluster on DigitalOcean, or in a local lab.')
    .version(toolVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false })
    .exitOverride();

  const init = program
    .command('init')
    .description('create or update a workspace: settings, secrets, files')
    .option('-y, --yes', 'accept defaults and confirmations (e.g. creating an SSH key)')
    .option('--non-interactive', 'never prompt, even on a terminal (the default without one)')
    .option('--rotate <names>', 'comma-separated secrets to regenerate on an existing workspace, or "all"')
    .exitOverride()
    .action(async (opts: Record<string, unknown>) => {
      const [{ runInit }, base] = await Promise.all([import('./commands/init.js'), operationContext(opts)]);
      await runInit(base);
    });

  workspaceCommand(program, 'up', 'build or update the cluster: terraform, then ansible', UP_EXAMPLES, () => import('./commands/up.js'), async ({ runUp }, base, opts) => {
    const waitTimeout = Number(opts.waitTimeout);
    if (!Number.isInteger(waitTimeout) || waitTimeout < 1 || waitTimeout > 7200)
      throw new UsageError('--wait-timeout: give whole seconds from 1 to 7200, e.g. --wait-timeout 900');
    await runUp({ ...base, only: opts.only as 'terraform' | 'ansible' | undefined, waitTimeout });
  })
    .option('-y, --yes', 'apply the terraform plan without asking')
    .option('--non-interactive', 'never prompt, even on a terminal (the default without one)')
    .addOption(new Option('--only <phase>', 'run one side: terraform (and the inventory), or ansible (wait for SSH, then the playbook)').choices(['terraform', 'ansible']))
    .option('--wait-timeout <seconds>', 'how long hosts get to accept SSH and finish cloud-init', '600')
    .option(...VAULT_PASSWORD_OPTION)
    .option('--verbose', 'stream terraform\'s and ansible\'s output (it is always in .ha-wordpress/logs/)');

  workspaceCommand(program, 'destroy', 'remove the cloud resources; the workspace stays', DESTROY_EXAMPLES, () => import('./commands/destroy.js'), ({ runDestroy }, base, opts) =>
    runDestroy({ ...base, purge: Boolean(opts.purge) }),
  )
    .option('-y, --yes', 'destroy without asking for the project name')
    .option('--non-interactive', 'never prompt; without --yes this refuses and changes nothing')
    .option('--purge', 'also delete the workspace directory after a successful destroy')
    .option(...VAULT_PASSWORD_OPTION)
    .option('--verbose', 'stream terraform\'s output (it is always in .ha-wordpress/logs/)');

  workspaceCommand(program, 'status', 'the health of every node; exit code 3 when degraded', STATUS_EXAMPLES, () => import('./commands/status.js'), ({ runStatus }, base, opts) =>
    runStatus({ ...base, json: Boolean(opts.json) }),
  ).option('--json', 'print the report as JSON');

  workspaceCommand(program, 'drill', 'break lab nodes under load; measure outages, lost writes', DRILL_EXAMPLES, () => import('./commands/drill.js'), ({ runDrill }, base, opts) =>
    runDrill({ ...base, json: Boolean(opts.json), scenarios: typeof opts.scenario === 'string' ? [opts.scenario] : undefined }),
  )
    .option('--scenario <names>', 'comma-separated scenarios to run, or all (default: the four single-failure ones)')
    .option('--json', 'print the results as JSON')
    .option(...VAULT_PASSWORD_OPTION)
    .option('--verbose', 'stream ansible\'s output when full-stop recovers with up');

  // init's options come from the settings table and are added only when
  // init is named on the command line (`init …`, `help init`): plain
  // `ha-wordpress --help` then loads neither the table nor forty option
  // objects (start-up budget: docs/architecture.md#start-up).
  if (withInitOptions) addSettingOptions(init);
  return program;
}

function addSettingOptions(init: Command): void {
  // Required here, not imported at the top, to keep it off the --help path.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { SETTINGS } = require('./settings/table.js') as typeof import('./settings/table.js');
  init.addHelpText('after', INIT_EXAMPLES);
  for (const s of SETTINGS) {
    const envNote = s.env?.length ? ` [env: ${s.env.join(', ')}]` : '';
    const staticDefault = s.defaultHelp ?? s.default?.({});
    const defNote = staticDefault ? ` (default: ${staticDefault})` : '';
    if (s.kind === 'boolean') {
      init.addOption(new Option(`--${s.flag}`, s.description + defNote).helpGroup(`${s.group}:`));
      init.addOption(new Option(`--no-${s.flag}`).hideHelp());
      continue;
    }
    const opt = new Option(`--${s.flag} ${s.arg ?? '<value>'}`, s.description + envNote + defNote).helpGroup(`${s.group}:`);
    // No commander defaults: the resolver applies them itself, after flags,
    // the environment and an existing workspace have had their say.
    if (s.choices) opt.choices(s.choices as string[]);
    init.addOption(opt);
  }
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram(argv.slice(2).includes('init'));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = report(err);
  }
}

function report(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander has printed its own message (or the help/version text).
    return err.exitCode === 0 ? 0 : err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
  }
  if (err instanceof CancelledError) {
    logger.info(err.message);
    return err.exitCode;
  }
  if (err instanceof UserError) {
    for (const line of err.message.split('\n')) logger.error(line);
    return err.exitCode;
  }
  const e = err as Error;
  logger.error(`unexpected: ${e?.message ?? String(err)} (set HA_WORDPRESS_DEBUG=1 for details)`);
  if (process.env.HA_WORDPRESS_DEBUG) logger.info(scrub(e?.stack ?? ''));
  return 1;
}
