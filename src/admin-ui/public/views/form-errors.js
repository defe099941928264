/**
 * Points at the field an API error is about. The server names the setting or parameter in its message
 * ("Invalid value for email.port: ..."), so the field whose name appears there is marked invalid and focused.
 */
export function markInvalidField(form, message) {
  for (const control of form.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
  const controls = [...form.querySelectorAll('input[name], select[name], textarea[name]')];
  // Longest names first, so "email.text" does not match inside a longer key.
  controls.sort((a, b) => b.name.length - a.name.length);
  const wordPattern = (name) => new RegExp(`(^|[^\\w.])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\w.])`);
  const control = controls.find((candidate) => wordPattern(candidate.name).test(message));
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    control.focus();
  }
  return control;
}

export function clearInvalidFields(form) {
  for (const control of form.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
}
