import { startSmtpSink, type SinkMail } from './smtp-sink.js';

export type { SinkMail } from './smtp-sink.js';

/**
 * The SMTP sink's own process, so its work never shares the load driver's event loop. Mails go to the
 * parent over IPC in batches, one message per turn of the event loop: under load one IPC write carries
 * several mails, and each still leaves within the turn it arrived in.
 */
let batch: SinkMail[] = [];
const flush = (): void => {
  const mails = batch;
  batch = [];
  process.send!(mails);
};
const sink = await startSmtpSink((mail) => {
  if (batch.length === 0) setImmediate(flush);
  batch.push(mail);
});
process.send!({ port: sink.port });
process.on('disconnect', () => void sink.close().then(() => process.exit(0)));
