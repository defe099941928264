import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/**
 * The child's next IPC message. A child that exits first (a failed verification, a port it could not
 * bind) fails the run instead of leaving it waiting forever. `name` says which child in the error.
 */
export async function nextMessage<T>(child: ChildProcess, name: string): Promise<T> {
  const ac = new AbortController();
  try {
    return await Promise.race([
      once(child, 'message', { signal: ac.signal }).then(([message]) => message as T),
      once(child, 'exit', { signal: ac.signal }).then(([code]) => {
        throw new Error(`${name} exited (${String(code)}) before it answered`);
      }),
    ]);
  } finally {
    ac.abort();
  }
}

/** Disconnects a forked child (each of ours exits on disconnect) and waits for it to end. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.disconnect();
  await exited;
}
