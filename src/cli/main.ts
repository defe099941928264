import { readFileSync } from 'node:fs';
import { loadConfig, type Environment } from '../config/load-config.js';
import { composeDeps } from '../compose.js';
import { isOtpError } from '../core/errors.js';
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from './cli-error.js';
import type { Command } from './command.js';
import { ADMIN_COMMANDS } from './commands/admin.js';
import { MIGRATE_COMMAND } from './commands/migrate.js';
import { TOKEN_COMMANDS } from './commands/token.js';
import { expectPositionals, parseArgs } from './parse-args.js';
import type { PasswordInput } from './read-password.js';

const COMMANDS: readonly Command[] = [...ADMIN_COMMANDS, MIGRATE_COMMAND, ...TOKEN_COMMANDS];

export interface CliProcess extends PasswordInput {
  argv: readonly string[];
  env: Environment;
  stdout: NodeJS.WritableStream;
}

function usage(): string {
  const lines: [string, string][] = [
    ...COMMANDS.map((command): [string, string] => [[...command.words, command.synopsis].join(' ').trim(), command.summary]),
    ['help, --help', 'show this text'],
    ['--version', 'show the version'],
  ];
  // A synopsis too long for the column gets its summary on the next line, so the text fits 100 columns.
  const width = Math.max(...lines.map(([synopsis]) => synopsis.length).filter((length) => length <= 28));
  const describe = ([synopsis, summary]: [string, string]): string =>
    synopsis.length > width ? `  ${synopsis}\n  ${''.padEnd(width)}  ${summary}` : `  ${synopsis.padEnd(width)}  ${summary}`;
  return [
    'usage: mailotp <command> [arguments]',
    '',
    ...lines.map(describe),
    '',
    'The database and data directory come from the same MAILOTP_* variables as the server',
    '(MAILOTP_DATABASE_URL, MAILOTP_DATA_DIR, MAILOTP_MASTER_KEY, ...); run it with the server\'s environment.',
    'Exit status: 0 done, 1 failed, 2 wrong command line.',
  ].join('\n');
}

function version(): string {
  // dist/src/cli/main.js -> the package root, three levels up (and src/cli/main.ts under ts-node alike).
  const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

/** The command the first words name; the rest of argv are its arguments. */
function findCommand(argv: readonly string[]): { command: Command; rest: string[] } {
  const [first, second] = argv;
  if (first === undefined) throw new UsageError('missing command');
  const group = COMMANDS.filter((command) => command.words[0] === first);
  if (group.length === 0) throw new UsageError(`unknown command "${first}"`);
  const single = group.find((command) => command.words.length === 1);
  if (single) return { command: single, rest: argv.slice(1) };
  if (second === undefined || second.startsWith('-')) throw new UsageError(`"${first}" needs one of: ${group.map((command) => command.words[1]).join(', ')}`);
  const command = group.find((candidate) => candidate.words[1] === second);
  if (!command) throw new UsageError(`unknown command "${first} ${second}"`);
  return { command, rest: argv.slice(2) };
}

function describeFailure(error: unknown, env: Environment): string {
  if (error instanceof CliError) return `error: ${error.message}`;
  if (isOtpError(error)) {
    // The public text, as an API client would see it. A configuration problem's detail names the
    // variable at fault (never its value), which the operator needs to fix it.
    const detail = error.code === 'CONFIG_INVALID' && error.detail ? `: ${error.detail}` : '';
    return `error: ${error.publicMessage} (${error.code})${detail}`;
  }
  const isVerbose = env['MAILOTP_LOG_LEVEL'] === 'debug' || env['MAILOTP_LOG_LEVEL'] === 'trace';
  const text = error instanceof Error ? (isVerbose ? (error.stack ?? error.message) : `${error.name}: ${error.message}`) : String(error);
  return `error: unexpected failure: ${text}`;
}

/** Runs one command line and returns the exit status. Opens the database only for a valid command line. */
export async function runCli(io: CliProcess): Promise<number> {
  const print = (line: string): void => void io.stdout.write(`${line}\n`);
  const note = (line: string): void => void io.stderr.write(`${line}\n`);
  const { argv } = io;
  if (argv.length === 0 || argv[0] === 'help' || argv.includes('--help') || argv.includes('-h')) {
    if (argv.length === 0) {
      note(usage());
      return EXIT_USAGE;
    }
    print(usage());
    return EXIT_OK;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    print(version());
    return EXIT_OK;
  }
  let composed: Awaited<ReturnType<typeof composeDeps>> | undefined;
  try {
    const { command, rest } = findCommand(argv);
    const { positionals, options } = parseArgs(rest, command.optionNames);
    expectPositionals(positionals, command.positionalNames);
    const config = loadConfig(io.env);
    composed = await composeDeps(config);
    if (composed.isNewKey) {
      note(`note: created a new master key in ${config.dataDir}; the server must use this data directory (or the same MAILOTP_MASTER_KEY) to accept what this command stores`);
    }
    await command.run({ composed, passwordInput: io, print, note }, { positionals, options });
    return EXIT_OK;
  } catch (error) {
    note(describeFailure(error, io.env));
    if (error instanceof UsageError) {
      note('');
      note(usage());
    }
    return error instanceof CliError ? error.exitCode : EXIT_FAILED;
  } finally {
    await composed?.close();
  }
}

/** The `mailotp` executable (bin/mailotp.js): the real process, its exit status when the work is done. */
export async function main(): Promise<void> {
  process.exitCode = await runCli({ argv: process.argv.slice(2), env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
  // A password read from a pipe may leave stdin open; nothing else is read, so let the process end.
  process.stdin.destroy();
}
