import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OtpError } from '../core/errors.js';
import { describeConfig, loadConfig } from './load-config.js';

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

describe('loadConfig: MAILOTP_DATABASE_POOL_SIZE', () => {
  it('is 4 unless set, and takes a whole number from 1 to 1000', () => {
    assert.equal(loadConfig({}).databasePoolSize, 4);
    assert.equal(loadConfig({ MAILOTP_DATABASE_POOL_SIZE: '3' }).databasePoolSize, 3);
    assert.equal(loadConfig({ MAILOTP_DATABASE_POOL_SIZE: '1000' }).databasePoolSize, 1000);
  });

  it('refuses 0, fractions and words with a config error that names the variable', () => {
    for (const wrong of ['0', '2.5', 'ten', '1001', '-1']) {
      assert.throws(() => loadConfig({ MAILOTP_DATABASE_POOL_SIZE: wrong }), (error: unknown) => {
        assert.ok(error instanceof OtpError);
        assert.equal(error.code, 'CONFIG_INVALID');
        assert.match(String(error.detail), /MAILOTP_DATABASE_POOL_SIZE must be a whole number from 1 to 1000/);
        return true;
      }, wrong);
    }
  });
});

describe('describeConfig: the start-up summary', () => {
  it('names the PostgreSQL pool size, and hides the database password', () => {
    const summary = describeConfig(loadConfig({ MAILOTP_DATABASE_URL: 'postgres://mailotp:s3cret-Pw@db.example:5432/mailotp', MAILOTP_DATABASE_POOL_SIZE: '4' }));
    assert.equal(summary['databasePoolSize'], 4);
    assert.equal(summary['database'], 'postgres://mailotp:***@db.example:5432/mailotp');
    assert.doesNotMatch(JSON.stringify(summary), /s3cret-Pw/);
  });

  it('leaves the pool out for SQLite, which has none', () => {
    assert.equal('databasePoolSize' in describeConfig(loadConfig({})), false);
  });
});
