import type { FastifyInstance } from 'fastify';
import { OtpError } from '../../core/errors.js';
import { canonicalSettingKey, describeSettings, SETTING_DEFINITIONS, updateSettings } from '../../core/settings/system-settings.js';
import type { AppDeps } from '../app-deps.js';
import { successEnvelope } from '../envelope.js';
import { readParams, requireString } from '../params.js';

export async function systemRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.addHook('preHandler', async (request) => {
    deps.sessions.authenticate(request);
  });

  /** Several keys at once; all are checked before any is written, so a bad value changes nothing. */
  app.post('/system/setConfig', async (request) => {
    const params = readParams(request);
    if (Object.keys(params).length === 0) throw new OtpError('PARAMETER_MISSING', { publicParams: { name: 'a configuration key' } });
    return successEnvelope(await updateSettings(deps.store.settings, deps.secretBox, params, deps.clock.nowMilliseconds()));
  });

  app.get('/system/', async () => successEnvelope(await describeSettings(deps.store.settings)));

  app.get('/system/:key', async (request) => {
    const key = canonicalSettingKey(requireString(readParams(request), 'key'));
    if (!SETTING_DEFINITIONS[key]) throw new OtpError('SETTING_UNKNOWN', { publicParams: { key: key.slice(0, 80) } });
    return successEnvelope((await describeSettings(deps.store.settings))[key] ?? '');
  });

  app.delete('/system/:key', async (request) => {
    const key = canonicalSettingKey(requireString(readParams(request), 'key'));
    if (!SETTING_DEFINITIONS[key]) throw new OtpError('SETTING_UNKNOWN', { publicParams: { key: key.slice(0, 80) } });
    return successEnvelope(await deps.store.settings.delete(key));
  });

}
