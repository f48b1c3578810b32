/**
 * The command-line program: commands and their options built from the
 * definitions in settings/commands.ts (and init's from the settings table),
 * and the one top-level error handler. Only commander and those definitions
 * load at start-up; each command's code is imported when it runs, so
 * `--help` and `--version` stay close to bare `node` start-up.
 */
import { Command, CommanderError, Help, Option } from 'commander';
import { CancelledError, capValues, UsageError, UserError } from './errors.js';
import { toolVersion } from './paths.js';
import type { Context } from './commands/context.js';
import { COMMANDS, commandOptions, parseFlags, type CommandDef, type OptionDef } from './settings/commands.js';
import { logger, scrub } from './ui/logger.js';

/** Each command's code, imported only when it runs. */
const RUN: Record<string, () => Promise<(ctx: Context) => Promise<void>>> = {
  init: async () => (await import('./commands/init.js')).runInit,
  up: async () => (await import('./commands/up.js')).runUp,
  destroy: async () => (await import('./commands/destroy.js')).runDestroy,
  status: async () => (await import('./commands/status.js')).runStatus,
  drill: async () => (await import('./commands/drill.js')).runDrill,
  backup: async () => (await import('./commands/backup.js')).runBackup,
  backups: async () => (await import('./commands/backup.js')).runBackups,
  restore: async () => (await import('./commands/backup.js')).runRestore,
  upgrade: async () => (await import('./commands/upgrade.js')).runUpgrade,
  scale: async () => (await import('./commands/scale.js')).runScale,
  replace: async () => (await import('./commands/replace.js')).runReplace,
};

/** What every command needs from the command line and the process. */
async function context(def: CommandDef, raw: Record<string, unknown>): Promise<Context> {
  const { flags: options, problems } = parseFlags(def, raw);
  if (problems.length) throw new UsageError(problems.join('\n'));
  const [{ terminalPrompts }, os] = await Promise.all([import('./ui/prompts.js'), import('node:os')]);
  return {
    flags: raw,
    options,
    env: process.env,
    cwd: process.cwd(),
    home: process.env.HOME || os.homedir(),
    interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY) && !options.nonInteractive,
    yes: options.yes,
    verbose: options.verbose,
    prompts: terminalPrompts,
    log: logger,
  };
}

/** A commander option from a definition; `note` follows the env variables in --help. */
function toOption(o: OptionDef, note = ''): Option {
  const envNote = o.env?.length ? ` [env: ${o.env.join(', ')}]` : '';
  const opt = new Option(`${o.short ? `-${o.short}, ` : ''}--${o.flag}${o.arg ? ` ${o.arg}` : ''}`, o.description + envNote + note);
  if (o.choices) opt.choices(o.choices as string[]);
  if (o.default !== undefined) opt.default(o.default);
  return opt;
}

export function buildProgram(withInitOptions = true): Command {
  const program = new Command('ha-wordpress')
    .description('A highly available WordPress cluster on DigitalOcean, or in a local lab.')
    .version(toolVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    // The list of commands names no argument (`replace`'s <node> would widen every line past 80 columns); each command's own --help does.
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false, subcommandTerm: (c) => new Help().subcommandTerm(c).replace(/ <[^>]+>/g, '') })
    // commander quotes what it did not understand ("unknown option '--…'"), however long.
    .configureOutput({ outputError: (text, write) => write(capValues(text)) })
    .exitOverride();

  for (const def of COMMANDS) {
    const cmd = program.command(def.name).description(def.description).exitOverride();
    if (def.argument) cmd.argument(def.argument.name, def.argument.description);
    // commander passes the command's argument first (when it has one), then the options.
    cmd.action(async (...given: unknown[]) => {
      const raw = (def.argument ? given[1] : given[0]) as Record<string, unknown>;
      const [run, ctx] = await Promise.all([RUN[def.name]!(), context(def, raw)]);
      await run(def.argument ? { ...ctx, args: [given[0] as string] } : ctx);
    });
    for (const o of commandOptions(def)) cmd.addOption(toOption(o));
    // init's cluster settings come from the settings table and are added only
    // when init is named on the command line (`init …`, `help init`): plain
    // `ha-wordpress --help` then loads neither the table nor forty option
    // objects (the start-up budget: within 1.5× of bare node).
    if (def.settings && withInitOptions) addSettingOptions(cmd);
    cmd.addHelpText('after', def.examples);
  }
  return program;
}

function addSettingOptions(init: Command): void {
  // Required here, not imported at the top, to keep it off the --help path.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { SETTINGS, RETIRED_FLAGS } = require('./settings/table.js') as typeof import('./settings/table.js');
  for (const s of SETTINGS) {
    const staticDefault = s.defaultHelp ?? s.default?.({});
    const defNote = staticDefault ? ` (default: ${staticDefault})` : '';
    if (s.kind === 'boolean') {
      init.addOption(new Option(`--${s.flag}`, s.description + defNote).helpGroup(`${s.group}:`));
      init.addOption(new Option(`--no-${s.flag}`).hideHelp());
      continue;
    }
    // No commander defaults: the resolver applies them itself, after flags,
    // the environment and an existing workspace have had their say.
    init.addOption(toOption({ ...s, default: undefined }, defNote).helpGroup(`${s.group}:`));
  }
  for (const r of RETIRED_FLAGS) init.addOption(new Option(`--${r.flag} <value>`).hideHelp());
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
  logger.error(`unexpected: ${capValues(e?.message ?? String(err))} (set HA_WORDPRESS_DEBUG=1 for details)`);
  if (process.env.HA_WORDPRESS_DEBUG) logger.info(scrub(e?.stack ?? ''));
  return 1;
}
