import type { MailMessage } from '../ports.js';
import { renderTemplate, type TemplateValues } from '../settings/mail-template.js';
import type { SystemSettings } from '../settings/system-settings.js';
import type { Token } from '../tokens/token.js';
import type { User } from '../users/user.js';

export interface OtpMailInput {
  settings: SystemSettings;
  token: Token;
  user: User | undefined;
  realm: string;
  otp: string;
  challengeId: string;
  transactionId: string;
  recipient: string;
  sender: string;
  nowMilliseconds: number;
  expiresAt: number;
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function isoTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

function senderDomain(sender: string): string {
  const at = sender.lastIndexOf('@');
  const domain = at >= 0 ? sender.slice(at + 1).replace(/[^A-Za-z0-9.-]/g, '') : '';
  return domain === '' ? 'mailotp.invalid' : domain;
}

/** The OTP mail, rendered from the admin's subject and text templates. */
export function composeOtpMail(input: OtpMailInput): MailMessage {
  const values: TemplateValues = {
    otp: input.otp,
    serial: input.token.serial,
    user: input.user?.givenname ?? '',
    givenname: input.user?.givenname ?? '',
    surname: input.user?.surname ?? '',
    username: input.user?.login ?? '',
    userrealm: input.realm,
    tokentype: 'email',
    time: `${isoTime(input.nowMilliseconds)} UTC`,
    date: isoDate(input.nowMilliseconds),
    challenge: input.transactionId,
    validtime: String(input.settings.validitySeconds),
    valid_until: `${isoDate(input.expiresAt)} ${isoTime(input.expiresAt)} UTC`,
  };
  // Header fields must not receive line breaks from user data (header injection).
  const subject = renderTemplate(input.settings.mailSubject, values).replace(/[\r\n]+/g, ' ');
  return {
    from: input.sender,
    to: input.recipient,
    subject,
    text: renderTemplate(input.settings.mailText, values),
    messageId: `<${input.challengeId}@${senderDomain(input.sender)}>`,
  };
}
