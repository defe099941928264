import type { Generated, Insertable, Selectable } from 'kysely';

/** Booleans are 0/1 integers and times epoch milliseconds, so one schema serves SQLite and PostgreSQL. */
export interface AdminTable {
  username: string;
  password_hash: string;
  created_at: number;
}

export interface ResolverTable {
  name: string;
  type: string;
  created_at: number;
}

export interface RealmTable {
  name: string;
  is_default: number;
  created_at: number;
}

export interface RealmResolverTable {
  realm: string;
  resolver: string;
  priority: number;
}

export interface LocalUserTable {
  id: Generated<number>;
  resolver: string;
  login: string;
  email: string;
  givenname: string;
  surname: string;
  phone: string;
  mobile: string;
  created_at: number;
}

export interface TokenTable {
  id: Generated<number>;
  serial: string;
  token_type: string;
  description: string;
  is_active: number;
  is_revoked: number;
  is_locked: number;
  fail_count: number;
  max_fail_count: number;
  otp_length: number;
  count: number;
  pin_hash: string | null;
  user_resolver: string | null;
  user_id: string | null;
  user_realm: string | null;
  info_json: string;
  created_at: number;
  fail_count_updated_at: number | null;
  count_auth: number;
  count_auth_success: number;
}

export interface ChallengeTable {
  id: string;
  transaction_id: string;
  token_id: number;
  otp_hash: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  wrong_count: number;
  max_wrong_count: number;
  delivery_state: string;
}

export interface SettingTable {
  key: string;
  value: string;
  updated_at: number;
}

export interface SmtpServerTable {
  identifier: string;
  server: string;
  port: number;
  username: string;
  password_sealed: string;
  sender: string;
  is_start_tls: number;
  timeout_seconds: number;
  description: string;
  updated_at: number;
}

export interface AuditEventTable {
  id: Generated<number>;
  at: number;
  action: string;
  is_success: number;
  serial: string | null;
  username: string | null;
  realm: string | null;
  client_ip: string | null;
  info: string | null;
}

export interface OutboxTable {
  id: string;
  transaction_id: string;
  token_id: number;
  serial: string;
  recipient: string;
  smtp_identifier: string;
  sealed_content: string;
  message_id: string;
  state: string;
  attempts: number;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
  created_at: number;
  expires_at: number;
  sent_at: number | null;
}

export interface RateBucketTable {
  key: string;
  units: number;
  updated_at: number;
}

export interface Database {
  admin: AdminTable;
  resolver: ResolverTable;
  realm: RealmTable;
  realm_resolver: RealmResolverTable;
  local_user: LocalUserTable;
  token: TokenTable;
  challenge: ChallengeTable;
  setting: SettingTable;
  smtp_server: SmtpServerTable;
  audit_event: AuditEventTable;
  outbox: OutboxTable;
  rate_bucket: RateBucketTable;
}

export type TokenRow = Selectable<TokenTable>;
export type NewTokenRow = Insertable<TokenTable>;
export type ChallengeRow = Selectable<ChallengeTable>;
export type LocalUserRow = Selectable<LocalUserTable>;
export type SmtpServerRow = Selectable<SmtpServerTable>;
export type OutboxRow = Selectable<OutboxTable>;
export type AuditEventRow = Selectable<AuditEventTable>;

export type DialectName = 'sqlite' | 'postgres';
