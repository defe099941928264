/** Resolves in the next turn of the event loop (setImmediate), letting timers and I/O run first. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Like nextTurn, but with a budget for each turn: callers are let through in the order they asked, in the
 * event loop's check phase, until the work done since the first of that turn reaches
 * `budgetMilliseconds`; the rest wait for the next turn, after timers and I/O have run.
 *
 * nextTurn alone runs, in one check phase, one step of every request that queued one: at 64 concurrent
 * transaction_id answers that phase took 13-24 ms (a one-millisecond timer's longest gaps, scratch runs),
 * and every timer, health check and new connection waited for it. A caller's work (a statement or a whole
 * transaction) runs in the microtasks right after it is let through, so the clock read at the next
 * caller counts it; one caller is always let through per turn, so nothing starves.
 */
export function createTurnBudget(budgetMilliseconds: number, now: () => number = () => performance.now()): () => Promise<void> {
  /** When this check phase let its first caller through; undefined until then. */
  let turnStartedAt: number | undefined;
  const endTurn = (): void => {
    turnStartedAt = undefined;
  };
  return () =>
    new Promise<void>((resolve) => {
      const admit = (): void => {
        const at = now();
        if (turnStartedAt === undefined) {
          turnStartedAt = at;
          // Queued ahead of every caller put off below, so the next check phase starts a fresh budget.
          setImmediate(endTurn);
        } else if (at - turnStartedAt >= budgetMilliseconds) {
          setImmediate(admit);
          return;
        }
        resolve();
      };
      setImmediate(admit);
    });
}
