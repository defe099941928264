import { OtpError } from '../errors.js';

/** Tags an email subject or text may use (privacyIDEA's set, plus validtime and valid_until). */
export const TEMPLATE_TAGS = Object.freeze([
  'otp', 'serial', 'user', 'givenname', 'surname', 'username', 'userrealm', 'tokentype',
  'time', 'date', 'challenge', 'validtime', 'valid_until',
] as const);

export type TemplateTag = (typeof TEMPLATE_TAGS)[number];
export type TemplateValues = Readonly<Record<TemplateTag, string>>;

const TAG_PATTERN = /\{([^{}]*)\}/g;

/**
 * Rejects a template with a tag we do not know, so a typo fails when the admin saves it and not when
 * a user is waiting for a code.
 */
export function checkTemplate(key: string, template: string): void {
  for (const match of template.matchAll(TAG_PATTERN)) {
    const tag = match[1] ?? '';
    if (!(TEMPLATE_TAGS as readonly string[]).includes(tag)) {
      throw new OtpError('TEMPLATE_INVALID', { publicParams: { key, tag: `{${tag.slice(0, 40)}}` } });
    }
  }
}

export function renderTemplate(template: string, values: TemplateValues): string {
  return template.replace(TAG_PATTERN, (whole, tag: string) =>
    Object.hasOwn(values, tag) ? values[tag as TemplateTag] : whole,
  );
}
