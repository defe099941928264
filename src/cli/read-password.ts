import type { Readable, Writable } from 'node:stream';
import { CliError, EXIT_FAILED } from './cli-error.js';

/** What reading a password needs from the process; tests and scripts use a pipe, people a terminal. */
export interface PasswordInput {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (isRaw: boolean) => unknown };
  /** Prompts go to stderr, so stdout stays clean for scripts. */
  stderr: Writable;
}

/** Ctrl-C at a prompt: the conventional exit status of a process ended by SIGINT. */
const EXIT_INTERRUPTED = 130;

/**
 * A new password: the first line of stdin when it is a pipe or file (without the line ending), else
 * asked twice on the terminal without echo. The value is only ever returned, never written anywhere.
 */
export async function readNewPassword(input: PasswordInput): Promise<string> {
  if (!input.stdin.isTTY || !input.stdin.setRawMode) {
    const line = await readFirstLine(input.stdin);
    if (line === undefined || line === '') throw new CliError('no password on stdin (give it as the first line)');
    return line;
  }
  const password = await promptHidden(input, 'New password: ');
  const repeated = await promptHidden(input, 'Repeat password: ');
  if (password !== repeated) throw new CliError('the passwords do not match');
  return password;
}

async function readFirstLine(stream: Readable): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let hasData = false;
  for await (const chunk of stream) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    hasData = true;
    const newline = bytes.indexOf(0x0a);
    if (newline >= 0) {
      chunks.push(bytes.subarray(0, newline));
      break;
    }
    chunks.push(bytes);
  }
  if (!hasData) return undefined;
  // A file written on Windows ends its lines with \r\n; the \r is not part of the password.
  return Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
}

function promptHidden(input: PasswordInput, prompt: string): Promise<string> {
  const { stdin, stderr } = input;
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: CliError): void => {
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (text: string): void => {
      for (const character of text) {
        if (character === '\r' || character === '\n') return finish();
        if (character === '\u0003') return finish(new CliError('interrupted', EXIT_INTERRUPTED));
        if (character === '\u0004') return value === '' ? finish(new CliError('no password given', EXIT_FAILED)) : finish();
        if (character === '\u007f' || character === '\b') value = [...value].slice(0, -1).join('');
        else if (character >= ' ') value += character;
      }
    };
    stderr.write(prompt);
    stdin.setEncoding('utf8');
    stdin.setRawMode?.(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}
