import { Worker } from 'node:worker_threads';

/**
 * better-sqlite3 is synchronous, and SQLite's automatic WAL checkpoint runs inside whichever commit
 * crosses 1,000 pages: copying the WAL back and syncing the file then stalls the event loop (seen in the
 * benchmark: 117 ms). Instead, a worker thread with its own connection runs PASSIVE checkpoints every
 * `intervalMilliseconds`; PASSIVE never blocks readers or the writer. The main connection keeps a high
 * auto-checkpoint threshold only as a safety net in case this worker is gone.
 *
 * Small and often: a checkpoint ends in an fsync of the database file, and while a large one runs the
 * event loop's own WAL writes wait on the filesystem. Measured with 3,000 transaction_id answers/s
 * (three commits each) on ext4: a checkpoint every 1,000 ms gave a dozen event-loop stalls of 20-50 ms
 * per 5 s; every 100 ms, none over 22 ms, at the same throughput. An idle PASSIVE checkpoint costs
 * microseconds.
 *
 * Starting the log over: a PASSIVE checkpoint copies frames but never restarts the log. The next write
 * does, and only if every frame was copied when it began, a moment continuous writes never give (seen
 * from 1,500 transaction_id answers/s): the log then grew to the main connection's 20,000-page safety
 * net, whose checkpoint ran in a commit on the event loop, fsyncs included (12-25 ms every 1-2 s). So
 * once the log holds `restartAtPages` frames, right after a PASSIVE pass has copied nearly all of them,
 * this thread runs a RESTART checkpoint: it takes the write lock, copies the few frames written since,
 * syncs, and has the next write start the log over (this thread's own, below). The event loop never
 * waits for that lock in SQLite (busy_timeout = 0 there, and its transactions begin IMMEDIATE:
 * sqlite-dialect.ts), so it keeps serving while its writes wait a few milliseconds on a timer.
 *
 * A RESTART holds the write lock while it waits for the lock's owner and then for every other reader to
 * leave the log, so it waits at most `restartWaitMilliseconds` (SQLite's busy timeout on this
 * connection) and then gives up for now. A reader that stays (an online backup, an open sqlite3 shell)
 * would otherwise hold up every write for that long each round: after each failure in a row twice as
 * many rounds that would try are skipped, up to `maxSkippedRounds`, and one success resets it.
 * Meanwhile the log grows as it did before, and the next successful RESTART starts it over.
 *
 * Who starts the log over: the first write after a checkpoint that copied every frame, and that write
 * also syncs the log's new header to disk (in WAL mode with synchronous=NORMAL it is the only sync a
 * commit ever does). Left to the event loop, that fsync comes right after this thread's own sync of the
 * database file and shares the disk with it: 79 fsyncs on the main thread in 15 s of full flows (perf
 * stat), most under 0.3 ms but up to 2.3 ms in a 30 s capture (perf sched), while this thread's own
 * syncs took up to 40 ms. So right after a RESTART, or a PASSIVE pass that copied the whole log, this
 * thread writes first (9 main-thread fsyncs in the same 15 s since, the races it loses): it flips a one-row
 * marker table (mailotp_wal_restart, created here), which starts the log over and pays the header sync
 * here, while the event loop's writes wait for the lock on a timer. Until another connection commits
 * (PRAGMA data_version), the log holds only that marker frame and rounds skip even the PASSIVE pass:
 * copying the marker would hand the restart back to the next writer, and an idle server would write and
 * sync every round.
 */
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driverPath);
const db = new Database(workerData.path);
db.pragma('busy_timeout = ' + workerData.restartWaitMilliseconds);
let restartWrite;
/** data_version right after this thread started the log over: while it holds, only the marker is in the log. */
let quietSince;
function startLogOver(waitMilliseconds) {
  db.pragma('busy_timeout = ' + waitMilliseconds);
  try {
    if (!restartWrite) {
      db.exec('create table if not exists mailotp_wal_restart (id integer primary key, flip integer not null)');
      db.exec('insert or ignore into mailotp_wal_restart (id, flip) values (1, 0)');
      restartWrite = db.prepare('update mailotp_wal_restart set flip = 1 - flip where id = 1');
    }
    restartWrite.run();
    quietSince = db.pragma('data_version', { simple: true });
  } finally {
    db.pragma('busy_timeout = ' + workerData.restartWaitMilliseconds);
  }
}
let skipRounds = 0;
let failures = 0;
const timer = setInterval(() => {
  try {
    // Copying the marker's frame alone would leave the restart to the next writer again: wait for one.
    if (quietSince !== undefined && db.pragma('data_version', { simple: true }) === quietSince) return;
    quietSince = undefined;
    const [{ log, checkpointed }] = db.pragma('wal_checkpoint(PASSIVE)');
    if (log >= workerData.restartAtPages && skipRounds-- <= 0) {
      const [{ busy }] = db.pragma('wal_checkpoint(RESTART)');
      failures = busy ? failures + 1 : 0;
      skipRounds = busy ? Math.min(2 ** (failures - 1), workerData.maxSkippedRounds) - 1 : 0;
      // Writes have waited for the RESTART anyway; the next one would sync right after its fsync of the file.
      if (!busy) startLogOver(workerData.restartWaitMilliseconds);
    } else if (log > 0 && checkpointed === log) {
      // Common under light load, and a writer may be mid-transaction: one try, no wait (waiting here
      // delays the next rounds).
      startLogOver(0);
    }
  } catch { /* busy past the wait, or closing: the next round catches up */ }
}, workerData.intervalMilliseconds);
parentPort.on('message', () => { clearInterval(timer); try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} db.close(); parentPort.close(); });
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

export interface CheckpointerOptions {
  intervalMilliseconds?: number;
  /** Frames in the log that make this thread start it over (4,096-byte pages: 16 MiB at the default). */
  restartAtPages?: number;
  /** The longest a RESTART waits for the write lock or for readers, holding up writes meanwhile. */
  restartWaitMilliseconds?: number;
  /** The most rounds skipped after RESTARTs that failed in a row (32 x 100 ms: 3.2 s). */
  maxSkippedRounds?: number;
}

export function startSqliteCheckpointer(
  path: string,
  driverPath: string,
  { intervalMilliseconds = 100, restartAtPages = 4000, restartWaitMilliseconds = 20, maxSkippedRounds = 32 }: CheckpointerOptions = {},
): Checkpointer {
  const workerData = { path, driverPath, intervalMilliseconds, restartAtPages, restartWaitMilliseconds, maxSkippedRounds };
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
  worker.unref();
  worker.on('error', () => undefined);
  return {
    async stop() {
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      // Unref'd so it never keeps a process alive; ref'd again while we wait for its last checkpoint.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
