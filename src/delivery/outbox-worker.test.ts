import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeadLocalOwner } from './outbox-worker.js';

describe('isDeadLocalOwner(): whose leases a starting worker may free at once', () => {
  const self = { owner: 'mail1:1:aaaa1111', host: 'mail1', pid: 1 };
  const running = new Set([1, 200]);
  const isRunning = (pid: number): boolean => running.has(pid);

  it('frees an owner on this host whose process is gone', () => {
    assert.equal(isDeadLocalOwner('mail1:300:bbbb2222', self, isRunning), true);
  });

  it('keeps an owner on this host whose process runs (another node process beside this one)', () => {
    assert.equal(isDeadLocalOwner('mail1:200:cccc3333', self, isRunning), false);
  });

  it('frees an earlier process that had this pid (a container restarted after a crash), never this worker itself', () => {
    assert.equal(isDeadLocalOwner('mail1:1:dddd4444', self, isRunning), true);
    assert.equal(isDeadLocalOwner(self.owner, self, isRunning), false);
  });

  it('leaves owners on other hosts, and anything it cannot read, to their leases', () => {
    assert.equal(isDeadLocalOwner('mail2:300:bbbb2222', self, isRunning), false);
    assert.equal(isDeadLocalOwner('sync:0194abcd', self, isRunning), false);
    assert.equal(isDeadLocalOwner('mail1:x1:eeee', self, isRunning), false);
  });
});
