import type { Clock, Mailer, OtpDigester, OutboxSignal, RandomSource, SecretBox, SecretHasher, Store } from './ports.js';

/** Everything a core use case may touch, passed as one object from the composition root. */
export interface CoreDeps {
  store: Store;
  clock: Clock;
  random: RandomSource;
  pinHasher: SecretHasher;
  otpDigester: OtpDigester;
  secretBox: SecretBox;
  mailer: Mailer;
  outboxSignal: OutboxSignal;
}
