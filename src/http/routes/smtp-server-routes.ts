import type { FastifyInstance } from 'fastify';
import { OtpError } from '../../core/errors.js';
import { describeSmtpServer, requireSmtpServer, saveSmtpServer, sendTestEmail } from '../../core/settings/smtp-server-service.js';
import type { AppDeps } from '../app-deps.js';
import { successEnvelope } from '../envelope.js';
import { optionalBoolean, optionalInteger, optionalString, readParams, rejectUnknownParams, requireString } from '../params.js';

const SERVER_PARAMS = ['identifier', 'server', 'port', 'username', 'password', 'sender', 'tls', 'timeout', 'description', 'enqueue_job'];

export async function smtpServerRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.addHook('preHandler', async (request) => {
    deps.sessions.authenticate(request);
  });

  app.post('/smtpserver/send_test_email', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['identifier', 'recipient', ...SERVER_PARAMS]);
    const result = await sendTestEmail(deps, requireString(params, 'identifier'), requireString(params, 'recipient'));
    return successEnvelope(result.isSent, result.isSent ? {} : { message: 'The test mail could not be sent', reason: result.reason });
  });

  app.post('/smtpserver/:identifier', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, SERVER_PARAMS);
    if (optionalBoolean(params, 'enqueue_job')) {
      throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'enqueue_job', reason: 'not supported' } });
    }
    await saveSmtpServer(deps, {
      identifier: requireString(params, 'identifier'),
      server: requireString(params, 'server'),
      port: optionalInteger(params, 'port', 1, 65535),
      username: optionalString(params, 'username'),
      password: optionalString(params, 'password'),
      sender: requireString(params, 'sender'),
      isStartTls: optionalBoolean(params, 'tls'),
      timeoutSeconds: optionalInteger(params, 'timeout', 1, 300),
      description: optionalString(params, 'description'),
    });
    return successEnvelope(true);
  });

  app.get('/smtpserver/', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['identifier']);
    const identifier = optionalString(params, 'identifier');
    const servers = identifier ? [await requireSmtpServer(deps, identifier)] : await deps.store.smtpServers.list();
    return successEnvelope(Object.fromEntries(servers.map((server) => [server.identifier, describeSmtpServer(server)])));
  });

  app.delete('/smtpserver/:identifier', async (request) => {
    const identifier = requireString(readParams(request), 'identifier');
    if (!(await deps.store.smtpServers.delete(identifier))) {
      throw new OtpError('SMTP_SERVER_NOT_FOUND', { publicParams: { identifier: identifier.slice(0, 64) } });
    }
    return successEnvelope(1);
  });
}
