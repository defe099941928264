import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * The admin UI is plain static files that talk to the public REST API like any admin client.
 * The folder is found relative to this module: beside it when run from src/, and back in the
 * repository's src/admin-ui/public when compiled to dist/src/admin-ui/ (tsc copies no assets).
 */
export function findPublicFolder(moduleUrl: string = import.meta.url): string {
  const candidates = [new URL('./public/', moduleUrl), new URL('../../../src/admin-ui/public/', moduleUrl)].map((url) => fileURLToPath(url));
  const found = candidates.find((path) => existsSync(join(path, 'index.html')));
  if (!found) throw new Error(`admin UI assets not found; looked in ${candidates.join(', ')}`);
  return found;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = Object.freeze({
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
});

/** No inline script or style, nothing from elsewhere, never framed: a stored XSS has nowhere to run. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "object-src 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  contentType: string;
}

/**
 * Every servable file, read once at start and keyed by its URL path below /admin/. A request can only
 * ever name one of these keys, so "..", encoded slashes or symlinks cannot reach outside the folder.
 */
function loadAssets(folder: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      if (name.startsWith('.')) continue;
      const path = join(dir, name);
      const stat = statSync(path);
      if (stat.isDirectory()) {
        walk(path);
        continue;
      }
      const contentType = CONTENT_TYPES[extname(name).toLowerCase()];
      if (!stat.isFile() || !contentType) continue;
      assets.set(relative(folder, path).split(sep).join('/'), { body: readFileSync(path), contentType });
    }
  };
  walk(folder);
  return assets;
}

function sendAsset(reply: FastifyReply, asset: Asset): FastifyReply {
  return reply
    .header('content-type', asset.contentType)
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cache-control', 'no-store')
    .send(asset.body);
}

export async function adminUiRoutes(app: FastifyInstance, publicFolder: string = findPublicFolder()): Promise<void> {
  const assets = loadAssets(publicFolder);
  const index = assets.get('index.html');
  if (!index) throw new Error(`admin UI: no index.html in ${publicFolder}`);

  // The app ignores trailing slashes, so this answers /admin too; index.html links its assets absolutely.
  app.get('/admin/', async (_request, reply) => sendAsset(reply, index));
  app.get('/admin/*', async (request, reply) => {
    const name = (request.params as { '*': string })['*'];
    const asset = assets.get(name);
    if (!asset) {
      return reply
        .code(404)
        .header('content-type', 'text/plain; charset=utf-8')
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .send('Not found');
    }
    return sendAsset(reply, asset);
  });
}
