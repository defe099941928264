import type { CoreDeps } from '../deps.js';
import { OtpError } from '../errors.js';
import { checkEmailAddress } from '../tokens/token-service.js';
import { parseServerAddress, smtpSettingsFromServer } from './resolve-smtp.js';
import type { SmtpServer } from './smtp-server.js';
import { CENSORED } from './system-settings.js';

export interface SmtpServerInput {
  identifier: string;
  server: string;
  port: number | undefined;
  username: string | undefined;
  password: string | undefined;
  sender: string;
  isStartTls: boolean | undefined;
  timeoutSeconds: number | undefined;
  description: string | undefined;
}

const IDENTIFIER_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const HOST_PATTERN = /^[A-Za-z0-9.-]{1,253}$|^\[?[0-9A-Fa-f:.]{2,45}\]?$/;

/** Creates or replaces a named SMTP server. Posting __CENSORED__ as password keeps the stored one. */
export async function saveSmtpServer(deps: CoreDeps, input: SmtpServerInput): Promise<void> {
  if (!IDENTIFIER_PATTERN.test(input.identifier)) {
    throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'identifier', reason: 'use 1 to 64 letters, digits or _.-' } });
  }
  const port = input.port ?? (/^smtps:/i.test(input.server) ? 465 : 25);
  const { host } = parseServerAddress(input.server, port);
  if (!HOST_PATTERN.test(host)) throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'server', reason: 'a host name, IP address or smtps://host' } });
  checkEmailAddress(input.sender);
  const existing = await deps.store.smtpServers.find(input.identifier);
  const password = input.password ?? '';
  const sealedPassword = password === CENSORED ? existing?.sealedPassword ?? '' : password === '' ? '' : deps.secretBox.seal(password);
  await deps.store.smtpServers.upsert(
    {
      identifier: input.identifier,
      server: input.server.trim(),
      port,
      username: input.username?.trim() ?? '',
      sealedPassword,
      sender: input.sender.trim(),
      isStartTls: input.isStartTls ?? false,
      timeoutSeconds: input.timeoutSeconds ?? 10,
      description: input.description ?? '',
    },
    deps.clock.nowMilliseconds(),
  );
}

/** GET /smtpserver/: privacyIDEA's shape, password censored. */
export function describeSmtpServer(server: SmtpServer): Record<string, unknown> {
  return {
    identifier: server.identifier,
    server: server.server,
    port: server.port,
    username: server.username,
    password: server.sealedPassword === '' ? '' : CENSORED,
    sender: server.sender,
    tls: server.isStartTls,
    timeout: server.timeoutSeconds,
    description: server.description,
    enqueue_job: false,
  };
}

export async function requireSmtpServer(deps: CoreDeps, identifier: string): Promise<SmtpServer> {
  const server = await deps.store.smtpServers.find(identifier);
  if (!server) throw new OtpError('SMTP_SERVER_NOT_FOUND', { publicParams: { identifier: identifier.slice(0, 64) } });
  return server;
}

/** Sends a test mail. Returns false on an SMTP failure; the reason is in the returned detail, never the password. */
export async function sendTestEmail(deps: CoreDeps, identifier: string, recipient: string): Promise<{ isSent: boolean; reason: string }> {
  checkEmailAddress(recipient);
  const server = await requireSmtpServer(deps, identifier);
  const settings = smtpSettingsFromServer(server, deps.secretBox);
  try {
    await deps.mailer.send(settings, {
      from: settings.sender,
      to: recipient,
      subject: 'mailotp test mail',
      text: `This is a test mail from mailotp, sent through the SMTP server "${identifier}".`,
      messageId: `<test-${deps.clock.nowMilliseconds()}@mailotp.invalid>`,
    });
    return { isSent: true, reason: '' };
  } catch (error) {
    if (error instanceof OtpError) return { isSent: false, reason: error.detail ?? error.code };
    throw error;
  }
}
