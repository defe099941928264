import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';

const MODULE = new URL('./thread-priority.js', import.meta.url).href;

/**
 * A fresh CommonJS process, like src/launch.cts: threads noted before the pool exists, then the first ES
 * module import starts the pool. Prints each thread's nice value (field 19 of /proc/.../stat).
 */
const CHILD = `
const { readdirSync, readFileSync } = require('node:fs');
const before = new Set(readdirSync('/proc/self/task').map(Number));
import(${JSON.stringify(MODULE)}).then(({ lowerThreadsStartedSince }) => {
  const niceOf = (id) => { const stat = readFileSync('/proc/self/task/' + id + '/stat', 'utf8'); return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]); };
  const lowered = lowerThreadsStartedSince(before);
  const threads = Object.fromEntries(readdirSync('/proc/self/task').map((id) => [id, niceOf(id)]));
  console.log(JSON.stringify({ pid: process.pid, lowered, threads }));
});
`;

describe('lowerThreadsStartedSince', { skip: process.platform !== 'linux' && 'per-thread nice values are a Linux feature' }, () => {
  it('lowers exactly the thread pool: its threads run at nice 10, the event loop and V8 threads stay at 0', () => {
    const output = execFileSync(process.execPath, ['-e', CHILD], { env: { ...process.env, UV_THREADPOOL_SIZE: '3' }, encoding: 'utf8' });
    const { pid, lowered, threads } = JSON.parse(output) as { pid: number; lowered: number[]; threads: Record<string, number> };
    assert.equal(lowered.length, 3, 'one per pool thread, as UV_THREADPOOL_SIZE asks');
    for (const id of lowered) assert.equal(threads[String(id)], 10, `pool thread ${id}`);
    assert.equal(threads[String(pid)], 0, 'the event loop');
    const others = Object.keys(threads).filter((id) => !lowered.includes(Number(id)));
    assert.ok(others.length > 1, 'the main thread and V8 platform threads exist too');
    for (const id of others) assert.equal(threads[id], 0, `thread ${id} is not the pool's`);
  });

  it('lowers nothing when it cannot tell the threads apart', () => {
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', `
      const { lowerThreadsStartedSince } = await import(${JSON.stringify(MODULE)});
      console.log(JSON.stringify(lowerThreadsStartedSince(new Set())));`], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(output), []);
  });
});
