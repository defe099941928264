import type { CoreDeps } from '../core/deps.js';
import type { AdminSessions } from './admin-session.js';
import type { Telemetry } from '../core/ports.js';

/** What the HTTP adapter needs: the core's ports plus the admin session codec. */
export interface AppDeps extends CoreDeps {
  sessions: AdminSessions;
  /** Hashes admin passwords; usually the same KDF as PINs. */
  passwordHasher: CoreDeps['pinHasher'];
  telemetry: Telemetry;
}
