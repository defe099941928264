export interface TurnCounter {
  /** How many check phases of the event loop have begun since the counter started. */
  current(): number;
  stop(): void;
}

/**
 * Numbers the event loop's check phases: started before the work it watches, its callback queues itself
 * again first thing, so it runs first in every check phase, ahead of whatever the phase before put off.
 */
export function countTurns(): TurnCounter {
  let turn = 0;
  let isRunning = true;
  const tick = (): void => {
    if (!isRunning) return;
    setImmediate(tick);
    turn += 1;
  };
  setImmediate(tick);
  return { current: () => turn, stop: () => void (isRunning = false) };
}
