import type { FastifyInstance } from 'fastify';

/** Placeholder until the admin UI lands: /admin answers so the route table is complete. */
export async function adminUiRoutes(app: FastifyInstance): Promise<void> {
  app.get('/admin', async (_request, reply) => reply.redirect('/admin/'));
}
