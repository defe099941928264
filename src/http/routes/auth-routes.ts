import type { FastifyInstance } from 'fastify';
import { authenticateAdmin } from '../../core/admins/admin-service.js';
import { OtpError } from '../../core/errors.js';
import type { AppDeps } from '../app-deps.js';
import { authenticationEnvelope } from '../envelope.js';
import { optionalString, readParams, rejectUnknownParams } from '../params.js';

const ADMIN_RIGHTS = [
  'enrollEMAIL', 'delete', 'enable', 'disable', 'reset', 'setpin', 'set', 'tokenlist', 'getchallenges',
  'triggerchallenge', 'adduser', 'updateuser', 'deleteuser', 'userlist', 'system_read', 'system_write',
  'smtpserver_read', 'smtpserver_write', 'auditlog',
];

export async function authRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.post('/auth', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['username', 'password', 'realm']);
    const username = optionalString(params, 'username');
    if (!username) throw new OtpError('AUTH_NO_USERNAME');
    const password = optionalString(params, 'password') ?? '';
    const isValid = await authenticateAdmin(deps, username, password);
    await deps.store.audit.insert({
      at: deps.clock.nowMilliseconds(), action: 'auth', isSuccess: isValid, serial: null,
      username: username.slice(0, 64), realm: null, clientIp: request.ip, info: isValid ? 'admin' : 'wrong_credentials',
    });
    if (!isValid) throw new OtpError('AUTH_WRONG_CREDENTIALS', { detail: `admin ${username.slice(0, 64)}` });
    const { token, claims } = deps.sessions.issue(username);
    return authenticationEnvelope(
      {
        token,
        role: 'admin',
        username: claims.username,
        realm: '',
        rights: ADMIN_RIGHTS,
        menus: ['tokens', 'users', 'config', 'audit'],
        auth: true,
        log_level: 30,
        logout_time: 120,
        token_page_size: 15,
        user_page_size: 15,
        default_tokentype: 'email',
      },
      'ACCEPT',
      {},
    );
  });
}
