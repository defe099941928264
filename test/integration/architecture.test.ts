import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';

const SRC = new URL('../../../src/', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return (name.endsWith('.ts') || name.endsWith('.cts')) && !name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Each import of a file: relative targets resolved to src-relative paths, packages by name. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)[^'"]*from\s+'([^']+)'/gm)].map((match) => {
    const target = match[1]!;
    return target.startsWith('.') ? relative(SRC, join(file, '..', target)) : `pkg:${target}`;
  });
}

const layer = (path: string): string => path.split('/')[0]!;

/** STYLE.md B2: the core is pure; adapters only reach the core; only the composition roots wire adapters. */
describe('dependency direction', () => {
  const all = files(SRC).map((file) => ({ file: relative(SRC, file), imports: importsOf(file) }));

  it('core imports nothing outside core but deterministic node:crypto', () => {
    for (const { file, imports } of all.filter((entry) => layer(entry.file) === 'core')) {
      for (const target of imports) {
        const isAllowed = target.startsWith('core/') || target === 'pkg:node:crypto';
        assert.ok(isAllowed, `${file} imports ${target}`);
      }
    }
  });

  it('store, mail, system and delivery reach only core, themselves and their driver packages', () => {
    for (const { file, imports } of all.filter((entry) => ['store', 'mail', 'system', 'delivery'].includes(layer(entry.file)))) {
      for (const target of imports) {
        if (target.startsWith('pkg:')) continue;
        assert.ok(layer(target) === 'core' || layer(target) === layer(file), `${file} imports ${target}`);
      }
    }
  });

  it('http and admin-ui never touch Kysely, pg, better-sqlite3 or nodemailer', () => {
    for (const { file, imports } of all.filter((entry) => ['http', 'admin-ui'].includes(layer(entry.file)))) {
      for (const target of imports) {
        assert.ok(!['pkg:kysely', 'pkg:pg', 'pkg:better-sqlite3', 'pkg:nodemailer'].includes(target), `${file} imports ${target}`);
        assert.ok(!['store', 'mail', 'system', 'cli'].includes(layer(target)), `${file} imports ${target}`);
      }
    }
  });

  it('reads process.env only in config/ and the composition roots', () => {
    for (const { file } of all) {
      if (file.startsWith('config/') || ['main.ts', 'launch.cts', 'cli/main.ts'].includes(file)) continue;
      assert.doesNotMatch(readFileSync(join(SRC, file), 'utf8'), /process\.env/, `${file} reads process.env`);
    }
  });

  it('calls Date.now() and Math.random() nowhere in core', () => {
    for (const { file } of all.filter((entry) => layer(entry.file) === 'core')) {
      const text = readFileSync(join(SRC, file), 'utf8');
      assert.doesNotMatch(text, /Date\.now\(|Math\.random\(/, file);
    }
  });
});
