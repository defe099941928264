import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

/**
 * The KDF ceiling: Argon2id verifications per second on all cores with the server's parameters and a
 * 32-byte secret (the server peppers every PIN hash the same way). @node-rs/argon2 runs on libuv's
 * thread pool, so the parent sets UV_THREADPOOL_SIZE to the core count and keeps twice that many
 * verifications in flight. Also measures one verification alone, the cost a single login pays.
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

let verified = 0;
const start = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() - start < durationMs) {
      if (!(await verify(stored, '2468', { secret }))) throw new Error('verification failed');
      verified += 1;
    }
  }),
);
const elapsedSeconds = (performance.now() - start) / 1000;
process.send!({ perSecond: verified / elapsedSeconds, singleMedianMs: singleMs[Math.floor(singleMs.length / 2)]! });
process.on('disconnect', () => process.exit(0));
