import { UsageError } from './cli-error.js';

export interface ParsedArgs {
  positionals: string[];
  options: Record<string, string>;
}

/**
 * Splits `words` into positionals and `--name value` / `--name=value` options, accepting only the
 * option names given. Every option takes a value; `--` ends option parsing.
 */
export function parseArgs(words: readonly string[], optionNames: readonly string[]): ParsedArgs {
  const positionals: string[] = [];
  const options: Record<string, string> = {};
  for (let index = 0; index < words.length; index++) {
    const word = words[index]!;
    if (word === '--') {
      positionals.push(...words.slice(index + 1));
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      positionals.push(word);
      continue;
    }
    const match = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(word);
    const name = match?.[1];
    if (!match || name === undefined || !optionNames.includes(name)) throw new UsageError(`unknown option ${word.split('=')[0]}`);
    const value = match[2] ?? words[++index];
    if (value === undefined || value === '') throw new UsageError(`option --${name} needs a value`);
    options[name] = value;
  }
  return { positionals, options };
}

/** Exactly `names.length` positionals, returned in order. */
export function expectPositionals(positionals: readonly string[], names: readonly string[]): string[] {
  if (positionals.length < names.length) throw new UsageError(`missing ${names.slice(positionals.length).map((name) => `<${name}>`).join(' ')}`);
  if (positionals.length > names.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[names.length])}`);
  return [...positionals];
}
