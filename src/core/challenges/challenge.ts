export type DeliveryState = 'queued' | 'sent' | 'deferred' | 'failed';

export interface Challenge {
  /** Its creation time, then 80 random bits (generateId); also the key of the OTP digest, so a digest cannot be replayed onto another challenge. */
  id: string;
  /** Shared by every challenge triggered by one request (privacyIDEA: 20 decimal digits). */
  transactionId: string;
  tokenId: number;
  otpHash: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  wrongCount: number;
  maxWrongCount: number;
  deliveryState: DeliveryState;
}

export type NewChallenge = Omit<Challenge, 'usedAt' | 'wrongCount'>;

export function isChallengeOpen(challenge: Challenge, nowMilliseconds: number): boolean {
  return challenge.usedAt === null && challenge.expiresAt > nowMilliseconds && challenge.wrongCount < challenge.maxWrongCount;
}
