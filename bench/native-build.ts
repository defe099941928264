import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeProgram {
  binary: string;
  /** Removes the temporary directory the program was built in. */
  remove(): void;
}

/**
 * Builds one of the benchmark's C programs (bench/<name>.c, found from dist/bench as from bench) with the
 * machine's C compiler (`$CC`, else `cc`) into a temporary directory. Undefined where there is no compiler
 * or the build fails: each caller then falls back to its Node.js twin. The benchmark's instruments are in
 * C where their own CPU would otherwise be taken from the server under test (pause-canary.c, flow-driver.c).
 */
export function buildNative(name: string): NativeProgram | undefined {
  const source = fileURLToPath(new URL(`../../bench/${name}.c`, import.meta.url));
  if (!existsSync(source)) return undefined;
  const dir = mkdtempSync(join(tmpdir(), `mailotp-${name}-`));
  const binary = join(dir, name);
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    execFileSync(process.env['CC'] || 'cc', ['-O2', '-o', binary, source], { stdio: 'ignore', timeout: 60_000 });
    return { binary, remove };
  } catch {
    remove();
    return undefined;
  }
}
