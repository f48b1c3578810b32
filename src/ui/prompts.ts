/**
 * The wizard's questions, behind an interface so steps can be given fakes.
 * @inquirer/prompts is imported on first use only (it is not needed for
 * --help or non-interactive runs). Ctrl-C at a prompt becomes CancelledError.
 */
import { CancelledError } from '../errors.js';

export interface Choice {
  value: string;
  name: string;
  description?: string;
}

export interface Prompts {
  input(o: { message: string; default?: string; validate?: (v: string) => string | true }): Promise<string>;
  password(o: { message: string; validate?: (v: string) => string | true }): Promise<string>;
  select(o: { message: string; choices: Choice[]; default?: string }): Promise<string>;
  confirm(o: { message: string; default?: boolean }): Promise<boolean>;
}

type Inquirer = typeof import('@inquirer/prompts');
let inquirer: Promise<Inquirer> | undefined;
const load = () => (inquirer ??= import('@inquirer/prompts'));

async function guard<T>(ask: () => Promise<T>): Promise<T> {
  try {
    return await ask();
  } catch (err) {
    if ((err as Error)?.name === 'ExitPromptError' || (err as Error)?.name === 'AbortPromptError') throw new CancelledError();
    throw err;
  }
}

export const terminalPrompts: Prompts = {
  input: async (o) => {
    const p = await load();
    return guard(() => p.input({ message: o.message, default: o.default, validate: o.validate }));
  },
  password: async (o) => {
    const p = await load();
    return guard(() => p.password({ message: o.message, mask: '*', validate: o.validate }));
  },
  select: async (o) => {
    const p = await load();
    return guard(() => p.select({ message: o.message, choices: o.choices, default: o.default, pageSize: 12, loop: false }));
  },
  confirm: async (o) => {
    const p = await load();
    return guard(() => p.confirm({ message: o.message, default: o.default }));
  },
};
