import { api } from '../api.js';
import { checkboxField, createNotice, field, h, pageHeader, whileBusy } from '../dom.js';
import { clearInvalidFields, markInvalidField } from './form-errors.js';
import { CENSORED, storedPasswordField } from './password-field.js';

const TEMPLATE_TAGS = '{otp}, {user}, {givenname}, {surname}, {username}, {serial}, {validtime}, {valid_until}, {time}, {date}';

function fieldset(legend, ...rows) {
  return h('fieldset', {}, h('legend', {}, legend), ...rows);
}

/** Config -> Tokens -> Email: the central mail settings of the seed document, as email.* system keys. */
export async function renderEmailConfig(container) {
  container.append(
    h('p', { class: 'breadcrumb' }, 'Config', h('span', { 'aria-hidden': 'true' }, ' › '), 'Tokens', h('span', { 'aria-hidden': 'true' }, ' › '), 'Email'),
    pageHeader('Email token', 'How mailotp sends one-time passwords by email. These settings apply to every email token.'),
  );
  const notice = createNotice();
  const body = h('div', {}, h('p', { class: 'loading' }, 'Loading settings…'));
  container.append(body);
  let settings;
  let servers;
  try {
    [settings, servers] = await Promise.all([api.getSettings(), api.listSmtpServers()]);
  } catch (error) {
    notice.error(error.message);
    body.replaceChildren(notice.element);
    return;
  }
  body.replaceChildren(buildForm(settings, Object.keys(servers), notice, container));
}

function buildForm(settings, serverIdentifiers, notice, container) {
  const mailServer = field({
    label: 'Mail Server', name: 'email.mailserver', value: settings['email.mailserver'], required: true,
    hint: 'Host name or IP address. Write smtps://host for TLS from the first byte (port 465).',
  });
  const port = field({ label: 'Port', name: 'email.port', type: 'number', value: settings['email.port'], required: true, attributes: { min: 1, max: 65535, inputmode: 'numeric' } });
  const tls = checkboxField({
    label: 'Use TLS', name: 'email.tls', checked: settings['email.tls'] === 'true',
    hint: 'Require STARTTLS before sending; the mail is not sent if the server cannot encrypt.',
  });
  const username = field({
    label: 'Mail User', name: 'email.username', value: settings['email.username'], autocomplete: 'off',
    hint: 'Leave empty to send without SMTP authentication.',
  });
  const password = storedPasswordField({
    label: 'Mail User Password', name: 'email.password', isStored: settings['email.password'] === CENSORED,
    noneHint: 'No password is stored.',
  });
  const mailFrom = field({ label: 'Mail Sender Address', name: 'email.mailfrom', type: 'email', value: settings['email.mailfrom'], required: true, autocomplete: 'off' });
  const validTime = field({
    label: 'OTP validity time (seconds)', name: 'email.validtime', type: 'number', value: settings['email.validtime'], required: true,
    hint: 'How long a mailed code can be used: 10 to 86400 seconds.', attributes: { min: 10, max: 86400, inputmode: 'numeric' },
  });
  const subject = field({ label: 'Subject', name: 'email.subject', value: settings['email.subject'], hint: `Tags you can use: ${TEMPLATE_TAGS}.` });
  const text = field({ label: 'Mail text', name: 'email.text', type: 'textarea', value: settings['email.text'], hint: 'Plain text. Put {otp} where the code goes.' });
  const identifier = h('select', { id: 'field-email-identifier', name: 'email.identifier', 'aria-describedby': 'field-email-identifier-hint' });
  identifier.append(h('option', { value: '' }, 'None: use the mail server above'));
  const current = settings['email.identifier'] ?? '';
  const choices = [...new Set([...serverIdentifiers, ...(current ? [current] : [])])];
  for (const name of choices) identifier.append(h('option', { value: name }, serverIdentifiers.includes(name) ? name : `${name} (not defined)`));
  identifier.value = current;

  const form = h(
    'form',
    { class: 'card form', novalidate: true, 'aria-labelledby': 'page-title' },
    notice.element,
    fieldset('Mail server', h('div', { class: 'grid-2' }, mailServer.row, port.row), tls.row),
    fieldset('Authentication', h('div', { class: 'grid-2' }, username.row, password.row)),
    fieldset('Sending', h('div', { class: 'grid-2' }, mailFrom.row, validTime.row)),
    fieldset('Mail content', subject.row, text.row),
    fieldset(
      'Named SMTP server',
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'field-email-identifier' }, 'SMTP server'),
        identifier,
        h('p', { class: 'hint', id: 'field-email-identifier-hint' }, 'Optional: send through a server from Config › SMTP servers instead of the settings above.'),
      ),
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button primary' }, 'Save')),
  );

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    notice.hide();
    clearInvalidFields(form);
    const changes = {
      'email.mailserver': mailServer.input.value.trim(),
      'email.port': port.input.value.trim(),
      'email.username': username.input.value.trim(),
      'email.mailfrom': mailFrom.input.value.trim(),
      'email.validtime': validTime.input.value.trim(),
      'email.tls': tls.input.checked,
      'email.subject': subject.input.value,
      'email.text': text.input.value,
      'email.identifier': identifier.value,
    };
    const newPassword = password.submitValue();
    if (newPassword !== undefined) changes['email.password'] = newPassword;
    try {
      await whileBusy(form, () => api.setSettings(changes));
    } catch (error) {
      notice.error(error.message);
      if (!markInvalidField(form, error.message)) notice.element.scrollIntoView({ block: 'nearest' });
      return;
    }
    // Show what the server stored now, not what was typed: the password field is empty again.
    const fresh = await api.getSettings().catch(() => settings);
    const servers = await api.listSmtpServers().catch(() => ({}));
    const replacement = buildForm(fresh, Object.keys(servers), notice, container);
    form.replaceWith(replacement);
    notice.success('The email settings were saved.');
    replacement.querySelector('button[type=submit]').focus();
  });
  return form;
}
