import type { SecretBox } from '../ports.js';

export interface MailContent {
  subject: string;
  text: string;
}

/** The rendered mail holds the code, so it rests only sealed, and only until delivery ends. */
export function sealMailContent(secretBox: SecretBox, content: MailContent): string {
  return secretBox.seal(JSON.stringify({ subject: content.subject, text: content.text }));
}

export function openMailContent(secretBox: SecretBox, sealed: string): MailContent {
  const parsed = JSON.parse(secretBox.open(sealed)) as Partial<MailContent>;
  return { subject: String(parsed.subject ?? ''), text: String(parsed.text ?? '') };
}
