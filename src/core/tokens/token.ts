/** The owner of a token: a user id in a user store (resolver), seen through a realm. */
export interface TokenOwner {
  resolver: string;
  userId: string;
  realm: string;
}

export interface Token {
  id: number;
  serial: string;
  tokenType: 'email';
  description: string;
  isActive: boolean;
  isRevoked: boolean;
  isLocked: boolean;
  failCount: number;
  maxFailCount: number;
  otpLength: number;
  /** Successful authentications; privacyIDEA's `count`. */
  count: number;
  pinHash: string | null;
  owner: TokenOwner | null;
  /** Free-form token attributes (privacyIDEA token info): email, dynamic_email, email.identifier, ... */
  info: Readonly<Record<string, string>>;
  createdAt: number;
  failCountUpdatedAt: number | null;
  countAuth: number;
  countAuthSuccess: number;
}

export type NewToken = Omit<Token, 'id' | 'count' | 'countAuth' | 'countAuthSuccess' | 'failCountUpdatedAt'>;

export type TokenPatch = Partial<
  Pick<Token, 'description' | 'isActive' | 'isRevoked' | 'isLocked' | 'failCount' | 'maxFailCount' | 'otpLength' | 'pinHash' | 'owner' | 'info'>
>;

export interface TokenFilter {
  /** Exact serial, or a pattern where `*` matches any run of characters. */
  serial?: string;
  owner?: { resolver: string; userId: string };
  realm?: string;
  isActive?: boolean;
  page: number;
  pageSize: number;
  sortBy: 'serial' | 'id' | 'failcount' | 'description';
  sortDescending: boolean;
}

export interface TokenPage {
  tokens: Token[];
  count: number;
}

/** Privacy-preserving defaults; privacyIDEA uses the same numbers. */
export const TOKEN_DEFAULTS = Object.freeze({
  otpLength: 6,
  maxFailCount: 10,
});

/** Switched on by an admin: active, not revoked, not locked. */
export function isTokenEnabled(token: Token): boolean {
  return token.isActive && !token.isRevoked && !token.isLocked;
}

/** At its fail limit: refused until a reset, a success elsewhere or failcounter_clear_timeout. */
export function isTokenLockedOut(token: Token): boolean {
  return token.failCount >= token.maxFailCount;
}

/** True when the token may be used to authenticate at all. */
export function isTokenUsable(token: Token): boolean {
  return isTokenEnabled(token) && !isTokenLockedOut(token);
}
