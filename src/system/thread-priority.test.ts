import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { SCHED_IDLE, SCHED_OTHER, type LoweredThreads } from './thread-priority.js';

const MODULE = new URL('./thread-priority.js', import.meta.url).href;

/**
 * A fresh CommonJS process, like src/launch.cts: threads noted before the pool exists, then the first ES
 * module import starts the pool. Prints each thread's nice value and scheduling policy (fields 19 and 41
 * of /proc/.../stat).
 */
const CHILD = `
const { readdirSync, readFileSync } = require('node:fs');
const before = new Set(readdirSync('/proc/self/task').map(Number));
import(${JSON.stringify(MODULE)}).then(({ lowerThreadsStartedSince }) => {
  const fieldsOf = (id) => { const stat = readFileSync('/proc/self/task/' + id + '/stat', 'utf8'); return stat.slice(stat.lastIndexOf(')') + 2).split(' '); };
  const lowered = lowerThreadsStartedSince(before);
  const threads = Object.fromEntries(readdirSync('/proc/self/task').map((id) => [id, { nice: Number(fieldsOf(id)[16]), policy: Number(fieldsOf(id)[38]) }]));
  console.log(JSON.stringify({ pid: process.pid, lowered, threads }));
});
`;

describe('lowerThreadsStartedSince', { skip: process.platform !== 'linux' && 'per-thread nice values are a Linux feature' }, () => {
  const hasChrt = spawnSync('chrt', ['--version'], { stdio: 'ignore' }).status === 0;

  it('lowers exactly the thread pool: nice 10 and SCHED_IDLE; the event loop and V8 threads stay as they were', () => {
    const output = execFileSync(process.execPath, ['-e', CHILD], { env: { ...process.env, UV_THREADPOOL_SIZE: '3' }, encoding: 'utf8' });
    type Thread = { nice: number; policy: number };
    const { pid, lowered, threads } = JSON.parse(output) as { pid: number; lowered: LoweredThreads; threads: Record<string, Thread> };
    assert.equal(lowered.threads.length, 3, 'one per pool thread, as UV_THREADPOOL_SIZE asks');
    assert.equal(lowered.startedSince, 3);
    assert.deepEqual(lowered.idleThreads, hasChrt ? lowered.threads : [], hasChrt ? 'chrt is here: every pool thread is idle-scheduled' : 'no chrt: nice alone');
    for (const id of lowered.threads) assert.deepEqual(threads[String(id)], { nice: 10, policy: hasChrt ? SCHED_IDLE : SCHED_OTHER }, `pool thread ${id}`);
    assert.deepEqual(threads[String(pid)], { nice: 0, policy: SCHED_OTHER }, 'the event loop');
    const others = Object.keys(threads).filter((id) => !lowered.threads.includes(Number(id)));
    assert.ok(others.length > 1, 'the main thread and V8 platform threads exist too');
    for (const id of others) assert.deepEqual(threads[id], { nice: 0, policy: SCHED_OTHER }, `thread ${id} is not the pool's`);
  });

  it('lowers nothing when it cannot tell the threads apart', () => {
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', `
      const { lowerThreadsStartedSince } = await import(${JSON.stringify(MODULE)});
      console.log(JSON.stringify(lowerThreadsStartedSince(new Set())));`], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(output), { startedSince: 0, threads: [], idleThreads: [] });
  });

  it('finds no new thread when the pool ran before the threads were noted, as under a NODE_OPTIONS preload', () => {
    const output = execFileSync(process.execPath, ['-e', `
      const { readdirSync, readFile } = require('node:fs');
      readFile('/proc/self/stat', () => {
        const before = new Set(readdirSync('/proc/self/task').map(Number));
        import(${JSON.stringify(MODULE)}).then(({ lowerThreadsStartedSince }) => console.log(JSON.stringify(lowerThreadsStartedSince(before))));
      });`], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(output), { startedSince: 0, threads: [], idleThreads: [] });
  });
});
