/**
 * What every command gets from the command line and the process. cli.ts
 * builds it; tests pass fakes (prompts, logger, environment).
 */
import type { CommandFlags } from '../settings/commands.js';
import type { Logger } from '../ui/logger.js';
import type { Prompts } from '../ui/prompts.js';

export interface Context {
  /**
   * commander's raw values by option name. init's resolver reads the cluster
   * settings from here, as it reads the environment; everything else reads
   * the checked `options`.
   */
  flags: Record<string, unknown>;
  options: CommandFlags;
  /** The command's argument, for a command that takes one (`replace <node>`). */
  args?: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  /** A terminal on both ends, and no --non-interactive. */
  interactive: boolean;
  yes: boolean;
  verbose: boolean;
  prompts: Prompts;
  log: Logger;
}
