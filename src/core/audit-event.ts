/** One line of the audit trail. Never holds an OTP, PIN or password: only outcomes and names. */
export interface AuditEvent {
  at: number;
  action: string;
  isSuccess: boolean;
  serial: string | null;
  username: string | null;
  realm: string | null;
  clientIp: string | null;
  /** Short machine-readable reason, e.g. "otp_mismatch". */
  info: string | null;
}

/** Who asked: the part of an audit line a request knows before its outcome. */
export type AuditRequest = Pick<AuditEvent, 'action' | 'username' | 'realm' | 'clientIp'>;

/**
 * An audit line: who asked, and what came of it. Spelled out field by field, not spread from the
 * request: every /validate request builds one, and an object literal of one shape costs less than a spread.
 */
export function auditLine(request: AuditRequest, at: number, isSuccess: boolean, serial: string | null, info: string | null): AuditEvent {
  return { action: request.action, username: request.username, realm: request.realm, clientIp: request.clientIp, at, isSuccess, serial, info };
}

/** The audit line of a successful authentication: via a challenge's code, or PIN+OTP in one pass. */
export function acceptedAudit(request: AuditRequest, serial: string, via: 'challenge' | 'pin_and_otp', at: number): AuditEvent {
  return auditLine(request, at, true, serial || null, `accepted_${via}`);
}

/** The audit line of a PIN that triggered challenges: not a success, the tokens mailed, by serial. */
export function triggeredAudit(request: AuditRequest, serials: readonly string[], at: number): AuditEvent {
  return auditLine(request, at, false, serials.join(',') || null, 'challenge_triggered');
}
