import { OtpError } from '../errors.js';
import type { SecretBox, SmtpServerRepository, SmtpSettings } from '../ports.js';
import type { SmtpServer } from './smtp-server.js';
import type { SystemSettings } from './system-settings.js';

const IMPLICIT_TLS_PORT = 465;

/** "smtps://host" or port 465 mean TLS from the first byte; "smtp://host" and a bare host mean plain/STARTTLS. */
export function parseServerAddress(server: string, port: number): { host: string; isImplicitTls: boolean } {
  const match = /^(smtps?):\/\/([^/:]+)(?::\d+)?\/?$/i.exec(server.trim());
  if (match) {
    return { host: match[2] ?? '', isImplicitTls: match[1]?.toLowerCase() === 'smtps' || port === IMPLICIT_TLS_PORT };
  }
  return { host: server.trim(), isImplicitTls: port === IMPLICIT_TLS_PORT };
}

export function smtpSettingsFromServer(server: SmtpServer, secretBox: SecretBox): SmtpSettings {
  const { host, isImplicitTls } = parseServerAddress(server.server, server.port);
  return Object.freeze({
    identifier: server.identifier,
    host,
    port: server.port,
    isImplicitTls,
    isStartTlsRequired: server.isStartTls && !isImplicitTls,
    username: server.username,
    password: server.sealedPassword === '' ? '' : secretBox.open(server.sealedPassword),
    sender: server.sender,
    timeoutSeconds: server.timeoutSeconds,
  });
}

/**
 * The legacy email.* server of each SystemSettings, built once: readSystemSettings hands out one frozen
 * object until the settings change, and every mail of that time then reaches the mailer as the same
 * SmtpSettings object (which lets the mailer keep its pool key per object, smtp-mailer.ts).
 */
const systemServers = new WeakMap<SystemSettings, SmtpSettings>();

export function smtpSettingsFromSystem(settings: SystemSettings): SmtpSettings {
  let server = systemServers.get(settings);
  if (!server) {
    server = Object.freeze(systemServerOf(settings));
    systemServers.set(settings, server);
  }
  return server;
}

function systemServerOf(settings: SystemSettings): SmtpSettings {
  const { host, isImplicitTls } = parseServerAddress(settings.mailServer, settings.mailPort);
  return {
    identifier: 'system',
    host,
    port: settings.mailPort,
    isImplicitTls,
    isStartTlsRequired: settings.isMailStartTls && !isImplicitTls,
    username: settings.mailUsername,
    password: settings.mailPassword,
    sender: settings.mailFrom,
    timeoutSeconds: settings.mailTimeoutSeconds,
  };
}

/**
 * The SMTP servers to try, in order. A token's own `email.identifier` beats the system one, which beats
 * the legacy email.* keys (SPEC A.7). An identifier may list several servers, comma-separated, for failover.
 */
export async function resolveSmtpSettings(
  repository: SmtpServerRepository,
  secretBox: SecretBox,
  settings: SystemSettings,
  tokenIdentifier: string | undefined,
): Promise<SmtpSettings[]> {
  const identifiers = (tokenIdentifier || settings.mailIdentifier)
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (identifiers.length === 0) return [smtpSettingsFromSystem(settings)];
  const servers: SmtpSettings[] = [];
  for (const identifier of identifiers) {
    const server = await repository.find(identifier);
    if (server) servers.push(smtpSettingsFromServer(server, secretBox));
  }
  if (servers.length === 0) {
    throw new OtpError('MAIL_NOT_CONFIGURED', { detail: `no SMTP server named ${identifiers.join(',')}` });
  }
  return servers;
}
