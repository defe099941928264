import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStalePreparedStatement, StatementNames } from './named-statements.js';

describe('StatementNames', () => {
  it('names each DML text once and leaves DDL, transaction control and LISTEN unnamed', () => {
    const names = new StatementNames();
    const select = names.nameFor('select * from "token" where "id" = $1');
    assert.ok(select);
    assert.equal(names.nameFor('select * from "token" where "id" = $1'), select);
    const insert = names.nameFor('  INSERT into "audit_event" ("at") values ($1)');
    assert.ok(insert && insert !== select);
    assert.ok(names.nameFor('with x as (select 1) select * from x'));
    for (const sql of ['begin', 'commit', 'rollback', 'start transaction isolation level serializable', 'create table t (id int)', 'alter table t add column x int', 'listen mailotp_outbox', 'set statement_timeout = 1000']) {
      assert.equal(names.nameFor(sql), undefined, sql);
    }
  });

  it('renews every name at once, and names no more texts than its limit', () => {
    const names = new StatementNames(2);
    const first = names.nameFor('select 1');
    const second = names.nameFor('select 2');
    assert.equal(names.nameFor('select 3'), undefined, 'over the limit: unnamed');
    names.renew();
    const renewed = names.nameFor('select 1');
    assert.ok(renewed && renewed !== first && renewed !== second, 'a name of the old generation is never reused');
    assert.ok(names.nameFor('select 3'), 'a new generation has room again');
  });
});

describe('isStalePreparedStatement', () => {
  it('recognises a plan cached before a schema change and a statement the session lost, nothing else', () => {
    assert.equal(isStalePreparedStatement({ code: '0A000', message: 'cached plan must not change result type' }), true);
    assert.equal(isStalePreparedStatement({ code: '26000', message: 'prepared statement "mailotp_1_3" does not exist' }), true);
    assert.equal(isStalePreparedStatement({ code: '0A000', message: 'LOCK TABLE is not supported' }), false);
    assert.equal(isStalePreparedStatement({ code: '23505', message: 'duplicate key value' }), false);
    assert.equal(isStalePreparedStatement(new Error('cached plan must not change result type')), false);
    assert.equal(isStalePreparedStatement(undefined), false);
  });
});
