import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { DATABASES } from '../support/databases.js';
import {
  clusterSettings,
  configure,
  otpIn,
  seedUsers,
  startCluster,
  startClusterSink,
  transactionIdOf,
  untilEveryNodeSees,
  type Cluster,
  type ClusterNode,
  type ClusterSink,
  type SinkMail,
} from '../support/cluster.js';

interface User {
  login: string;
  email: string;
  pin: string;
}

function users(prefix: string, count: number): User[] {
  return Array.from({ length: count }, (_, index) => ({ login: `${prefix}${index}`, email: `${prefix}${index}@cluster.test`, pin: `pin${index}` }));
}

async function queryDatabase<T>(cluster: Cluster, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: cluster.database.url });
  await client.connect();
  try {
    return (await client.query(sql, values)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Triggers a challenge for `user` through `node` (admin) and returns its transaction id. */
async function trigger(cluster: Cluster, node: ClusterNode, user: User): Promise<string> {
  const response = await node.post('/validate/triggerchallenge', { user: user.login }, { token: cluster.adminToken });
  assert.equal(response.body['result']?.authentication, 'CHALLENGE', `${node.name}: ${JSON.stringify(response.body)}`);
  return response.body['detail'].transaction_id as string;
}

const mailFor = (transactionId: string) => (mail: SinkMail): boolean => transactionIdOf(mail) === transactionId;

async function failCount(cluster: Cluster, node: ClusterNode, serial: string): Promise<number> {
  const response = await node.get('/token/', { token: cluster.adminToken, params: { serial } });
  return response.body.result.value.tokens[0].failcount as number;
}

/** Parses one sample of a Prometheus text exposition, e.g. mailotp_outbox_mails{state="sent"}. */
function sample(metricsText: string, name: string, labels: string): number | undefined {
  const line = metricsText.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

// A cluster needs PostgreSQL; only an explicit MAILOTP_TEST_DATABASES without it skips these suites.
const skip = DATABASES.includes('postgres') ? false : 'MAILOTP_TEST_DATABASES excludes postgres';

describe('two mailotp processes on one PostgreSQL database', { skip }, () => {
  let sink: ClusterSink;
  let cluster: Cluster;
  let a: ClusterNode;
  let b: ClusterNode;
  const people = users('user', 8);
  let serials: string[];

  before(async () => {
    sink = await startClusterSink();
    cluster = await startCluster({ nodeCount: 2 });
    [a, b] = cluster.nodes as [ClusterNode, ClusterNode];
    await configure(a, cluster.adminToken, clusterSettings(sink));
    // B must not trigger with the settings it read before this write (the subject ties a mail to its challenge).
    await untilEveryNodeSees(cluster, 'email.subject', 'Code for {challenge}');
    serials = await seedUsers(a, cluster.adminToken, people);
  });
  after(async () => {
    await cluster?.close();
    await sink?.close();
  });

  it('both come up when started at the same instant on an empty database, which is migrated once', async () => {
    const migrations = await queryDatabase<{ name: string; count: string }>(cluster, 'SELECT name, count(*) AS count FROM mailotp_migration GROUP BY name ORDER BY name');
    assert.deepEqual(
      migrations.map((row) => [row.name, Number(row.count)]),
      [['0001-initial', 1], ['0002-default-realm', 1], ['0003-outbox-and-rate-limits', 1], ['0004-outbox-cleanup-index', 1], ['0005-challenge-expiry-index', 1], ['0006-delivery-state-trigger', 1], ['0007-pending-outbox-index', 1]],
    );
    const realms = await queryDatabase<{ count: string }>(cluster, 'SELECT count(*) AS count FROM realm');
    assert.equal(Number(realms[0]!.count), 1, 'the default realm was created twice');
    for (const node of [a, b]) {
      const health = await node.get('/healthz');
      assert.equal(health.status, 200, node.name);
      assert.deepEqual(health.body, { status: 'ok' });
    }
  });

  it('accepts on B the code of a challenge triggered on A', async () => {
    const user = people[0]!;
    const transactionId = await trigger(cluster, a, user);
    const otp = otpIn(await sink.waitForMail(mailFor(transactionId)));
    const answer = await b.post('/validate/check', { user: user.login, transaction_id: transactionId, pass: otp });
    assert.equal(answer.body['result'].authentication, 'ACCEPT');
    const replay = await a.post('/validate/check', { user: user.login, transaction_id: transactionId, pass: otp });
    assert.equal(replay.body['result'].authentication, 'REJECT');
  });

  it('accepts PIN+OTP on B for a challenge triggered by a PIN on A', async () => {
    const user = people[1]!;
    const challenge = await a.post('/validate/check', { user: user.login, pass: user.pin });
    assert.equal(challenge.body['result'].authentication, 'CHALLENGE');
    const otp = otpIn(await sink.waitForMail(mailFor(challenge.body['detail'].transaction_id as string)));
    const answer = await b.post('/validate/check', { user: user.login, pass: `${user.pin}${otp}` });
    assert.equal(answer.body['result'].authentication, 'ACCEPT');
    assert.equal(answer.body['detail'].serial, serials[1]);
  });

  it('gives exactly one ACCEPT when the same right answer reaches A and B at the same instant, 200 times', async () => {
    const lanes = people.slice(2, 6);
    const roundsPerLane = 50;
    const acceptsPerRound: number[] = [];
    await Promise.all(
      lanes.map(async (user, lane) => {
        for (let round = 0; round < roundsPerLane; round += 1) {
          const transactionId = await trigger(cluster, (round + lane) % 2 === 0 ? a : b, user);
          const otp = otpIn(await sink.waitForMail(mailFor(transactionId)));
          const answers = await Promise.all(
            [a, b].map((node) => node.post('/validate/check', { user: user.login, transaction_id: transactionId, pass: otp })),
          );
          for (const answer of answers) assert.equal(answer.status, 200);
          acceptsPerRound.push(answers.filter((answer) => answer.body['result'].authentication === 'ACCEPT').length);
        }
      }),
    );
    assert.equal(acceptsPerRound.length, lanes.length * roundsPerLane);
    assert.deepEqual(acceptsPerRound.filter((accepts) => accepts !== 1), [], 'rounds without exactly one ACCEPT');
  });

  it('never lets parallel wrong guesses on both nodes push the fail counter past maxfail', async () => {
    const user = people[6]!;
    const serial = serials[6]!;
    const transactionId = await trigger(cluster, a, user);
    const otp = otpIn(await sink.waitForMail(mailFor(transactionId)));
    const wrong = otp === '000000' ? '111111' : '000000';
    const guesses = Array.from({ length: 120 }, (_, index) => {
      const node = index % 2 === 0 ? a : b;
      // Both wrong-answer paths: the challenge's transaction id, and PIN+OTP in one pass.
      const params: Record<string, string> = index % 4 < 2 ? { user: user.login, transaction_id: transactionId, pass: wrong } : { user: user.login, pass: `${user.pin}${wrong}` };
      return node.post('/validate/check', params);
    });
    const answers = await Promise.all(guesses);
    assert.ok(answers.every((answer) => answer.body['result'].authentication === 'REJECT'));
    assert.equal(await failCount(cluster, a, serial), 10);
    assert.equal(await failCount(cluster, b, serial), 10);
    const rightTooLate = await b.post('/validate/check', { user: user.login, transaction_id: transactionId, pass: otp });
    assert.equal(rightTooLate.body['result'].authentication, 'REJECT');
  });

  it('uses a setting changed on A on B within a second', async () => {
    const user = people[7]!;
    await configure(a, cluster.adminToken, { 'email.subject': 'Changed on A: Code for {challenge}' });
    // Nodes keep settings up to half a second (read cache); the promise to operators is one second.
    await untilEveryNodeSees(cluster, 'email.subject', 'Changed on A: Code for {challenge}', 1000);
    try {
      const transactionId = await trigger(cluster, b, user);
      const mail = await sink.waitForMail(mailFor(transactionId));
      assert.equal(mail.subject, `Changed on A: Code for ${transactionId}`);
    } finally {
      await configure(a, cluster.adminToken, { 'email.subject': 'Code for {challenge}' });
    }
    await untilEveryNodeSees(cluster, 'email.subject', 'Code for {challenge}', 1000);
  });

  it('sends each mail exactly once while both nodes work the outbox', async () => {
    const recipients = users('once', 100);
    await seedUsers(b, cluster.adminToken, recipients);
    const before = sink.mails.length;
    const transactionIds = await Promise.all(recipients.map((user, index) => trigger(cluster, index % 2 === 0 ? a : b, user)));
    await sink.waitForAll(transactionIds, (transactionId, mail) => mailFor(transactionId)(mail), 30_000);
    const mails = sink.mails.slice(before);
    assert.equal(mails.length, 100);
    assert.equal(new Set(mails.map((mail) => mail.messageId)).size, 100, 'a Message-ID arrived twice');
    assert.equal(new Set(mails.map((mail) => mail.to.join(','))).size, 100, 'a recipient got two mails');
    assert.deepEqual(new Set(mails.map(transactionIdOf)), new Set(transactionIds));
    // A node records "sent" just after the SMTP server's 250, so the last rows may still be settling when
    // the sink has every mail: wait (bounded) for the outbox to empty rather than race it.
    const deadline = performance.now() + 5_000;
    let pending = Number.NaN;
    do {
      pending = Number((await queryDatabase<{ count: string }>(cluster, "SELECT count(*) AS count FROM outbox WHERE state IN ('queued', 'deferred')"))[0]!.count);
      if (pending > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    } while (pending > 0 && performance.now() < deadline);
    assert.equal(pending, 0);
  });

  it('shows the cluster-wide outbox on GET /metrics of every node', async () => {
    const sent = await queryDatabase<{ count: string }>(cluster, "SELECT count(*) AS count FROM outbox WHERE state = 'sent'");
    const perNodeSent: number[] = [];
    for (const node of [a, b]) {
      const metrics = await node.get('/metrics');
      assert.equal(metrics.status, 200);
      assert.equal(sample(metrics.text, 'mailotp_outbox_mails', 'state="queued"'), 0, node.name);
      assert.equal(sample(metrics.text, 'mailotp_outbox_mails', 'state="deferred"'), 0, node.name);
      perNodeSent.push(sample(metrics.text, 'mailotp_mail_deliveries_total', 'result="sent"') ?? 0);
    }
    // Each node counts only its own deliveries; together they sent every mail in the shared outbox, and
    // none twice (a second send of a claimed row would count on both nodes).
    assert.equal(perNodeSent[0]! + perNodeSent[1]!, Number(sent[0]!.count));
    assert.ok(perNodeSent.every((count) => count > 0), `per-node deliveries ${perNodeSent.join(', ')}: one node sent nothing`);
  });
});

describe('SIGKILL of one node under load', { skip }, () => {
  const leaseSeconds = 3;
  let sink: ClusterSink;
  let cluster: Cluster;
  let a: ClusterNode;
  let b: ClusterNode;
  const people = users('load', 12);

  before(async () => {
    // Each mail waits 300 ms for its 250 reply, so the node killed below dies holding claimed, unsent mail.
    sink = await startClusterSink({ acceptDelayMs: 300 });
    cluster = await startCluster({ nodeCount: 2, env: { MAILOTP_OUTBOX_LEASE_SECONDS: String(leaseSeconds) } });
    [a, b] = cluster.nodes as [ClusterNode, ClusterNode];
    await configure(a, cluster.adminToken, clusterSettings(sink));
    await untilEveryNodeSees(cluster, 'email.subject', 'Code for {challenge}');
    await seedUsers(a, cluster.adminToken, people);
  });
  after(async () => {
    await cluster?.close();
    await sink?.close();
  });

  it('sends each mail once when a backlog on a slow SMTP server takes longer than the lease', async () => {
    const backlog = users('slow', 60);
    await seedUsers(b, cluster.adminToken, backlog);
    const before = sink.mails.length;
    // All through A: its worker claims them while B's poller looks for rows whose lease has lapsed.
    const transactionIds = await Promise.all(backlog.map((user) => trigger(cluster, a, user)));
    await sink.waitForAll(transactionIds, (transactionId, mail) => mailFor(transactionId)(mail), 60_000);
    const mails = sink.mails.slice(before);
    const perMessage = new Map<string, number>();
    for (const mail of mails) perMessage.set(mail.messageId, (perMessage.get(mail.messageId) ?? 0) + 1);
    assert.deepEqual([...perMessage].filter(([, count]) => count > 1), [], 'mails sent twice');
  });

  it('keeps B answering and loses no mail: B sends what A had claimed once its lease lapses', async () => {
    const pidA = a.process.child.pid!;
    const firstMail = sink.mails.length;
    const challenged: string[] = [];
    const failuresOnB: string[] = [];
    let isKilled = false;
    let answeredByBAfterKill = 0;
    let isStopped = false;
    const lane = async (laneIndex: number): Promise<void> => {
      for (let request = laneIndex; !isStopped; request += 1) {
        const node = request % 2 === 0 ? a : b;
        const user = people[request % people.length]!;
        try {
          const response = await node.post('/validate/check', { user: user.login, pass: user.pin });
          if (response.body['result']?.authentication === 'CHALLENGE') challenged.push(response.body['detail'].transaction_id as string);
          else if (node === b) failuresOnB.push(JSON.stringify(response.body));
          if (node === b && isKilled && (answeredByBAfterKill += 1) >= 40) isStopped = true;
        } catch (error) {
          // A refuses connections once it is dead; B must never fail.
          if (node === b) failuresOnB.push(String(error));
          else if (!isKilled) throw error;
        }
      }
    };
    const load = Promise.all([0, 1, 2, 3].map((laneIndex) => lane(laneIndex)));
    load.catch(() => (isStopped = true));

    // Kill A at a moment it holds leased, unsent mail (waiting for an event, polled from the database).
    const leasedByA = async (): Promise<string[]> =>
      (await queryDatabase<{ id: string }>(cluster, "SELECT id FROM outbox WHERE lease_owner LIKE $1 AND state IN ('queued', 'deferred')", [`%:${pidA}:%`])).map((row) => row.id);
    const killDeadline = Date.now() + 15_000;
    let heldAtKill: string[] = [];
    while (heldAtKill.length === 0 || challenged.length < 10) {
      assert.ok(Date.now() < killDeadline, 'node A never held a leased mail under load');
      heldAtKill = await leasedByA();
    }
    isKilled = true;
    await a.process.stop('SIGKILL');
    // What A still held as it died (it may have finished a few between the query and the kill).
    const orphaned = await leasedByA();
    await load;

    assert.deepEqual(failuresOnB, [], 'node B failed requests');
    assert.ok(answeredByBAfterKill >= 40);
    assert.ok(orphaned.length > 0, 'A died holding no mail; the test proved nothing');
    await sink.waitForAll(challenged, (transactionId, mail) => mailFor(transactionId)(mail), (leaseSeconds + 15) * 1000);

    // A request in flight to A as it died may have committed a challenge its client never heard of: that
    // mail must go out too. Wait (polling the database) until the outbox holds nothing unsent.
    type Row = { id: string; transaction_id: string; state: string; lease_owner: string | null };
    const unsentDeadline = Date.now() + (leaseSeconds + 15) * 1000;
    let rows: Row[] = [];
    for (;;) {
      rows = await queryDatabase<Row>(cluster, 'SELECT id, transaction_id, state, lease_owner FROM outbox');
      if (rows.every((row) => row.state === 'sent') || Date.now() > unsentDeadline) break;
    }
    assert.deepEqual(rows.filter((row) => row.state !== 'sent'), [], 'mail left unsent');
    assert.equal(new Set(sink.mails.map(transactionIdOf)).size, rows.length, 'a mail marked sent never reached the SMTP server');
    // A crash between the SMTP server's 250 and A's commit can repeat one of A's orphans; nothing else may repeat.
    const orphanTransactions = new Set(rows.filter((row) => orphaned.includes(row.id)).map((row) => row.transaction_id));
    const seen = new Map<string, number>();
    const mails = sink.mails.slice(firstMail);
    for (const mail of mails) seen.set(mail.messageId, (seen.get(mail.messageId) ?? 0) + 1);
    const repeated = mails.filter((mail) => seen.get(mail.messageId)! > 1 && !orphanTransactions.has(transactionIdOf(mail)!));
    assert.deepEqual(repeated.map((mail) => mail.subject), [], 'mails sent twice that A did not hold when it died');
    assert.equal((await b.get('/healthz')).status, 200);
  });
});
