/** Resolves in the next turn of the event loop (setImmediate), letting timers and I/O run first. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

