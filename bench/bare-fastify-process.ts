import cluster from 'node:cluster';
import formbody from '@fastify/formbody';
import Fastify from 'fastify';

/**
 * The HTTP ceiling: a fastify app that parses the same urlencoded body as mailotp and answers
 * {ok:true}, with no database and no KDF. argv[2] is the worker count: 1 is a single process, more
 * uses node:cluster, so the limit covers both shapes the server might take.
 */
const workers = Number(process.argv[2] ?? '1');

async function serve(): Promise<number> {
  const app = Fastify({ logger: false });
  await app.register(formbody);
  app.post('/bare', async () => ({ ok: true }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as { port: number }).port;
}

if (workers > 1 && cluster.isPrimary) {
  let listening = 0;
  for (let index = 0; index < workers; index += 1) {
    const worker = cluster.fork();
    worker.on('message', (message: { port: number }) => {
      listening += 1;
      if (listening === workers) process.send!({ port: message.port });
    });
  }
  process.on('disconnect', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    process.exit(0);
  });
} else {
  const port = await serve();
  process.send!({ port });
  process.on('disconnect', () => process.exit(0));
}
