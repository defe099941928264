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
