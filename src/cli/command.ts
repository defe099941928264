import type { Composed } from '../compose.js';
import type { ParsedArgs } from './parse-args.js';
import type { PasswordInput } from './read-password.js';

/** What a command may use: the composed services (opened from the MAILOTP_* env) and the terminal. */
export interface CommandContext {
  composed: Composed;
  passwordInput: PasswordInput;
  /** A line of results, to stdout. */
  print(line: string): void;
  /** A note for the person at the terminal, to stderr. */
  note(line: string): void;
}

export interface Command {
  /** The words that select it: ['admin', 'add']. */
  words: readonly string[];
  /** Arguments after the words, as shown in the usage text. */
  synopsis: string;
  summary: string;
  positionalNames: readonly string[];
  optionNames: readonly string[];
  run(context: CommandContext, args: { positionals: string[]; options: ParsedArgs['options'] }): Promise<void>;
}
