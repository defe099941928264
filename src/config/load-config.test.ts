import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OtpError } from '../core/errors.js';
import { loadConfig } from './load-config.js';

describe('loadConfig: MAILOTP_DATABASE_PREPARED_STATEMENTS', () => {
  it('is on unless turned off, and accepts the usual spellings', () => {
    assert.equal(loadConfig({}).databasePreparedStatements, true);
    for (const off of ['false', 'FALSE', '0', 'off', ' off ']) assert.equal(loadConfig({ MAILOTP_DATABASE_PREPARED_STATEMENTS: off }).databasePreparedStatements, false, off);
    for (const on of ['true', '1', 'on']) assert.equal(loadConfig({ MAILOTP_DATABASE_PREPARED_STATEMENTS: on }).databasePreparedStatements, true, on);
  });

  it('refuses anything else with a config error that names the variable', () => {
    assert.throws(() => loadConfig({ MAILOTP_DATABASE_PREPARED_STATEMENTS: 'maybe' }), (error: unknown) => {
      assert.ok(error instanceof OtpError);
      assert.equal(error.code, 'CONFIG_INVALID');
      assert.match(String(error.detail), /MAILOTP_DATABASE_PREPARED_STATEMENTS must be true or false/);
      return true;
    });
  });
});
