import { checkboxField, field, h } from '../dom.js';

export const CENSORED = '__CENSORED__';

/**
 * A password field for a stored secret. The server only ever says "__CENSORED__" (a password is
 * stored) or "" (none); that marker is never put into the field. Empty means "keep what is stored",
 * and clearing is a separate, explicit checkbox.
 */
export function storedPasswordField({ label, name, isStored, noneHint }) {
  const password = field({
    label,
    name,
    type: 'password',
    autocomplete: 'new-password',
    hint: isStored ? 'A password is stored. Leave this empty to keep it, or type a new one to replace it.' : noneHint,
  });
  const remove = isStored ? checkboxField({ label: 'Remove the stored password', name: `${name}.remove` }) : undefined;
  if (remove) {
    remove.input.addEventListener('change', () => {
      password.input.disabled = remove.input.checked;
      if (remove.input.checked) password.input.value = '';
    });
  }
  const row = h('div', { class: 'password-group' }, password.row, remove?.row);
  return {
    row,
    input: password.input,
    /** What to send: undefined keeps the stored password, '' removes it, anything else replaces it. */
    submitValue() {
      if (remove?.input.checked) return '';
      return password.input.value === '' ? undefined : password.input.value;
    },
  };
}
