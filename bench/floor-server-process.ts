import { randomBytes, timingSafeEqual } from 'node:crypto';
import formbody from '@fastify/formbody';
import Fastify from 'fastify';
import { MAILER_CONNECTIONS_PER_SERVER } from '../src/compose.js';
import { generateOtp, generateTransactionId } from '../src/core/otp/generate-otp.js';
import type { SmtpSettings } from '../src/core/ports.js';
import { createSmtpMailer } from '../src/mail/smtp-mailer.js';
import { createArgon2SecretHasher } from '../src/system/argon2-secret-hasher.js';
import { cryptoRandomSource } from '../src/system/crypto-random-source.js';
import { emailOf } from './scenarios.js';

/**
 * The protocol floor: the least server that answers the benchmark's full flow, built from the parts
 * mailotp is built from: fastify with the same body parser, mailotp's own Argon2id hasher (pepper,
 * libuv pool, its gate), its code and transaction id generators on its random source, and its own mailer
 * (nodemailer's pool, TCP_NODELAY, coalesced writes). Challenges
 * live in a Map: no database, no audit, no rate limits, no sealed outbox, no logging. What it reaches on
 * a machine is what any server made of these parts can reach there; mailotp's distance to it is what
 * its state and checks cost. It is a yardstick for the report, never a server to deploy.
 *
 * argv: memoryKiB iterations parallelism smtpPort pin. The PIN is hashed once and stands for every user's
 * (a verification costs the same whichever hash it checks). Started by floor-launch.cjs; sends its port
 * over IPC and exits when the parent disconnects.
 */
const [memoryKiB, iterations, parallelism, smtpPort] = process.argv.slice(2, 6).map(Number) as [number, number, number, number];
const pin = process.argv[6] ?? '';
const CODE_DIGITS = 6;
const VALIDITY_MILLISECONDS = 300_000;

interface Challenge {
  user: string;
  code: Buffer;
  expiresAt: number;
}

const hasher = createArgon2SecretHasher(randomBytes(32), { memoryKiB, iterations, parallelism });
const pinHash = await hasher.hash(pin);
const mailer = createSmtpMailer({ isPooled: true, maxConnectionsPerServer: MAILER_CONNECTIONS_PER_SERVER });
const smtp: SmtpSettings = {
  identifier: 'floor',
  host: '127.0.0.1',
  port: smtpPort,
  isImplicitTls: false,
  isStartTlsRequired: false,
  username: '',
  password: '',
  sender: 'otp@bench.test',
  timeoutSeconds: 10,
};
const challenges = new Map<string, Challenge>();

const answer = (authentication: 'ACCEPT' | 'REJECT' | 'CHALLENGE', detail?: Record<string, unknown>) => ({
  result: { status: true, value: authentication === 'ACCEPT', authentication },
  ...(detail ? { detail } : {}),
});

const app = Fastify({ logger: false });
await app.register(formbody);
app.post('/validate/check', async (request, reply) => {
  const { user, pass, transaction_id: transactionId } = (request.body ?? {}) as Record<string, string | undefined>;
  if (!user || pass === undefined) return reply.code(400).send({ result: { status: false, error: { code: 905, message: 'user and pass are required' } } });
  if (transactionId !== undefined) {
    const challenge = challenges.get(transactionId);
    const given = Buffer.from(pass);
    const isMatch = challenge !== undefined && challenge.user === user && challenge.expiresAt > Date.now() &&
      given.length === challenge.code.length && timingSafeEqual(given, challenge.code);
    // One use: a match ends the challenge.
    if (isMatch) challenges.delete(transactionId);
    return answer(isMatch ? 'ACCEPT' : 'REJECT');
  }
  if (!(await hasher.verify(pinHash, pass))) return answer('REJECT');
  const id = generateTransactionId(cryptoRandomSource);
  const code = generateOtp(cryptoRandomSource, CODE_DIGITS);
  challenges.set(id, { user, code: Buffer.from(code), expiresAt: Date.now() + VALIDITY_MILLISECONDS });
  // Sent after the answer, as mailotp's outbox hand-off does. A mail that fails never reaches the sink,
  // and the driver counts its flow as an error when no code arrives.
  mailer.send(smtp, { from: smtp.sender, to: emailOf(user), subject: 'Your one-time code', text: `Your code: ${code}`, messageId: `<${id}@floor.bench.test>` }).catch(() => undefined);
  return answer('CHALLENGE', { transaction_id: id, message: 'code sent' });
});
await app.listen({ host: '127.0.0.1', port: 0 });
process.send!({ port: (app.server.address() as { port: number }).port });
process.on('disconnect', () => {
  void mailer.close().finally(() => process.exit(0));
});
