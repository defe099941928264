import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { OtpError } from '../core/errors.js';
import type { AppDeps } from './app-deps.js';
import { handleError } from './error-handler.js';
import { authRoutes } from './routes/auth-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { mailRoutes } from './routes/mail-routes.js';
import { smtpServerRoutes } from './routes/smtp-server-routes.js';
import { systemRoutes } from './routes/system-routes.js';
import { tokenRoutes } from './routes/token-routes.js';
import { userRoutes } from './routes/user-routes.js';
import { validateRoutes } from './routes/validate-routes.js';
import { adminUiRoutes } from '../admin-ui/admin-ui-routes.js';

export interface AppOptions {
  bodyLimitBytes: number;
  trustProxy: boolean | string | number;
  logger: FastifyServerOptions['logger'];
}

/**
 * Request logs carry method, path and client only: a query string may hold `pass=<PIN+OTP>` and a body
 * may hold PINs and SMTP passwords, so neither is ever logged.
 */
const SAFE_SERIALIZERS = {
  req(request: { method: string; url: string; ip?: string; headers?: Record<string, unknown> }) {
    return { method: request.method, path: request.url.split('?')[0], client: request.ip, userAgent: request.headers?.['user-agent'] };
  },
};

/** A hop count: trust that many proxies in front of us (X-Forwarded-For read from the right). */
function trustHops(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops;
}

/** Builds the HTTP app around the given dependencies. Never listens: main.ts (or a test's inject) does. */
export async function buildApp(deps: AppDeps, options: AppOptions): Promise<FastifyInstance> {
  const logger = options.logger && typeof options.logger === 'object' ? { ...options.logger, serializers: { ...SAFE_SERIALIZERS } } : options.logger;
  const app = Fastify({
    logger: logger ?? false,
    bodyLimit: options.bodyLimitBytes,
    trustProxy: typeof options.trustProxy === 'number' ? trustHops(options.trustProxy) : options.trustProxy,
    // privacyIDEA routes end in "/" (GET /token/) and clients call both spellings.
    routerOptions: { ignoreTrailingSlash: true },
    return503OnClosing: true,
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => handleError(new OtpError('ROUTE_NOT_FOUND', { detail: `${request.method} ${request.url.split('?')[0]}` }), request, reply));
  await app.register(formbody, { bodyLimit: options.bodyLimitBytes });
  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fieldSize: options.bodyLimitBytes, fields: 64, files: 0, parts: 64, fileSize: 0 },
  });
  // Answers about authentication must never be cached by a proxy. A callback hook, not an async one:
  // this runs for every response, and an async hook costs a promise and its turns each time.
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    done(null, payload);
  });
  await app.register(async (scope) => healthRoutes(scope, deps));
  await app.register(async (scope) => authRoutes(scope, deps));
  await app.register(async (scope) => validateRoutes(scope, deps));
  await app.register(async (scope) => tokenRoutes(scope, deps));
  await app.register(async (scope) => userRoutes(scope, deps));
  await app.register(async (scope) => systemRoutes(scope, deps));
  await app.register(async (scope) => smtpServerRoutes(scope, deps));
  await app.register(async (scope) => mailRoutes(scope, deps));
  await app.register(async (scope) => adminUiRoutes(scope));
  return app;
}
