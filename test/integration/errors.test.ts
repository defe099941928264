import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CATALOGUE, OtpError, type ErrorCode } from '../../src/core/errors.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('the error catalogue', () => {
  it('has the number of codes the docs were written for (update both together)', () => {
    assert.equal(CODES.length, 33);
  });

  it('documents every code in docs/errors.md with its HTTP status and privacyIDEA code', () => {
    const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
    for (const code of CODES) {
      const { httpStatus, piCode } = ERROR_CATALOGUE[code];
      assert.match(doc, new RegExp(`^\\| \`${code}\` \\| ${httpStatus} \\| ${piCode} \\|`, 'm'), `${code} missing or wrong in docs/errors.md`);
    }
    const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((match) => match[1]);
    assert.deepEqual(documented.sort(), [...CODES].sort(), 'docs/errors.md lists a code the catalogue does not have');
  });

  it('uses every code somewhere outside the catalogue (no dead codes)', () => {
    const sources = sourceFiles(join(ROOT, 'src')).filter((file) => !file.endsWith('core/errors.ts')).map((file) => readFileSync(file, 'utf8')).join('\n');
    for (const code of CODES) assert.ok(sources.includes(`'${code}'`), `${code} is never raised`);
  });

  it('gives client errors 4xx and infrastructure errors 5xx, with privacyIDEA-style messages', () => {
    for (const code of CODES) {
      const { httpStatus, piCode, message } = ERROR_CATALOGUE[code];
      assert.ok(httpStatus >= 400 && httpStatus < 600, code);
      assert.ok(Number.isInteger(piCode), code);
      if (httpStatus === 400) assert.match(message, /^ERR\d+: /, `${code}: 400 messages carry the ERR<code> prefix`);
    }
  });

  it('fills public placeholders and keeps the private detail out of the public message', () => {
    const error = new OtpError('TOKEN_NOT_FOUND', { publicParams: { serial: 'PIEM1' }, detail: 'secret-ish internals' });
    assert.equal(error.publicMessage, 'No token found for serials: PIEM1');
    assert.equal(error.httpStatus, 404);
    assert.equal(error.piCode, 601);
    assert.ok(!error.publicMessage.includes('internals'));
  });
});
