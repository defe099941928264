import type { FastifyInstance } from 'fastify';
import { OtpError } from '../../core/errors.js';
import type { AppDeps } from '../app-deps.js';

export async function healthRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  /** Ready means the database answers: a load balancer should not send logins to a node that cannot check them. */
  app.get('/healthz', async () => {
    try {
      await deps.store.settings.getAll();
    } catch (error) {
      throw new OtpError('STORE_UNAVAILABLE', { cause: error });
    }
    return { status: 'ok' };
  });
}
