import type { DeliveryResult } from '../core/delivery/deliver-outbox-entry.js';
import type { OutboxRepository, Telemetry } from '../core/ports.js';
import { Metrics } from './metrics.js';

const LATENCY_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export function createTelemetry(outbox: OutboxRepository): Telemetry {
  const metrics = new Metrics();
  const outcomes = metrics.counter('mailotp_validate_outcomes_total', 'Results of /validate/check and /validate/triggerchallenge by reason');
  const queued = metrics.counter('mailotp_mails_queued_total', 'OTP mails committed to the outbox');
  const delivered = metrics.counter('mailotp_mail_deliveries_total', 'Delivery attempts by their result: sent, deferred (will retry) or failed (given up)');
  const latency = metrics.histogram('mailotp_mail_delivery_latency_seconds', 'From the commit of a challenge to the SMTP server accepting its mail', LATENCY_BUCKETS_SECONDS);
  // Only the states still to send: counting the retained sent and failed rows reads the whole outbox,
  // which on SQLite held the event loop 8-10 ms per scrape at 90,000 rows (and grows with retention).
  // Sent and failed mails are counted per node by mailotp_mail_deliveries_total.
  metrics.gauge('mailotp_outbox_mails', 'Mails waiting in the outbox by state, queued or deferred (cluster-wide: read from the database)', async () => {
    const counts = await outbox.countPending();
    return Object.entries(counts).map(([state, value]) => ({ labels: { state }, value }));
  });
  return {
    validateOutcome: (result, reason) => outcomes({ result, reason }),
    mailsQueued: (count) => queued({}, count),
    deliveryResult(result) {
      delivered({ result: result.state });
      if (result.state === 'sent' && result.latencyMilliseconds !== undefined) latency(Math.max(0, result.latencyMilliseconds) / 1000);
    },
    render: () => metrics.render(),
    markServing: () => metrics.resetEventLoopDelay(),
    close: () => metrics.close(),
  };
}
