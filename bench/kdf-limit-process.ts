import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

/**
 * The KDF ceiling: Argon2id verifications per second on all cores with the server's parameters and a
 * 32-byte secret (the server peppers every PIN hash the same way). @node-rs/argon2 runs on libuv's
 * thread pool, so the parent sets UV_THREADPOOL_SIZE to the core count and keeps twice that many
 * verifications in flight. First it measures one verification alone, the cost a single login pays, and
 * the ceiling over `durationMs`; then it stays, idle, and measures the ceiling again whenever the parent
 * asks (`{ measureMs }`), so a level of the benchmark can be set beside the ceiling of its own minutes.
 */
const [memoryKiB, iterations, parallelism, durationMs, concurrency] = process.argv.slice(2).map(Number) as [number, number, number, number, number];
const secret = randomBytes(32);
const options = { algorithm: 2, memoryCost: memoryKiB, timeCost: iterations, parallelism, secret };
const stored = await hash('2468', options);

const singleMs: number[] = [];
for (let index = 0; index < 15; index += 1) {
  const start = performance.now();
  await verify(stored, '2468', { secret });
  singleMs.push(performance.now() - start);
}
singleMs.sort((a, b) => a - b);

async function verificationsPerSecond(forMs: number): Promise<number> {
  let verified = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() - start < forMs) {
        if (!(await verify(stored, '2468', { secret }))) throw new Error('verification failed');
        verified += 1;
      }
    }),
  );
  return verified / ((performance.now() - start) / 1000);
}

process.send!({ perSecond: await verificationsPerSecond(durationMs), singleMedianMs: singleMs[Math.floor(singleMs.length / 2)]! });
process.on('message', (request: { measureMs: number }) => {
  verificationsPerSecond(request.measureMs).then(
    (perSecond) => process.send!({ perSecond }),
    (error: unknown) => {
      process.stderr.write(`KDF ceiling failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
});
process.on('disconnect', () => process.exit(0));
