import { api } from '../api.js';
import { checkboxField, confirmAction, createNotice, field, h, pageHeader, whileBusy } from '../dom.js';
import { clearInvalidFields, markInvalidField } from './form-errors.js';
import { CENSORED, storedPasswordField } from './password-field.js';

/** Config -> SMTP servers: named servers a token or the email settings can point at, with a test mail. */
export async function renderSmtpServers(container) {
  container.append(
    h('p', { class: 'breadcrumb' }, 'Config', h('span', { 'aria-hidden': 'true' }, ' › '), 'SMTP servers'),
    pageHeader('SMTP servers', 'Named mail servers. Select one in the email token settings, or per token, instead of the default mail server.'),
  );
  const listNotice = createNotice();
  const listArea = h('section', { 'aria-labelledby': 'smtp-list-title' }, h('h2', { id: 'smtp-list-title', tabindex: '-1' }, 'Defined servers'), listNotice.element);
  const table = h('div', {});
  listArea.append(table);
  const editorArea = h('section', { 'aria-labelledby': 'smtp-editor-title' });
  container.append(listArea, editorArea);

  let servers = {};
  const refresh = async () => {
    try {
      servers = await api.listSmtpServers();
    } catch (error) {
      listNotice.error(error.message);
      return;
    }
    table.replaceChildren(renderTable());
  };

  const renderTable = () => {
    const entries = Object.values(servers);
    if (entries.length === 0) return h('p', { class: 'empty' }, 'No SMTP servers are defined yet.');
    return h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        {},
        h('caption', { class: 'visually-hidden' }, 'SMTP servers'),
        h('thead', {}, h('tr', {}, ['Identifier', 'Server', 'Port', 'Sender', 'TLS', 'Description', 'Actions'].map((title) => h('th', { scope: 'col' }, title)))),
        h(
          'tbody',
          {},
          entries.map((server) =>
            h(
              'tr',
              {},
              h('th', { scope: 'row' }, server.identifier),
              h('td', {}, server.server),
              h('td', {}, String(server.port)),
              h('td', {}, server.sender),
              h('td', {}, server.tls ? 'Yes' : 'No'),
              h('td', {}, server.description),
              h(
                'td',
                { class: 'row-actions' },
                h('button', { type: 'button', class: 'button secondary small', onClick: () => showEditor(server) }, 'Edit', h('span', { class: 'visually-hidden' }, ` ${server.identifier}`)),
                h('button', { type: 'button', class: 'button danger small', onClick: () => void remove(server.identifier) }, 'Delete', h('span', { class: 'visually-hidden' }, ` ${server.identifier}`)),
              ),
            ),
          ),
        ),
      ),
    );
  };

  const remove = async (identifier) => {
    if (!(await confirmAction(`Delete the SMTP server "${identifier}"? Tokens and settings that name it will fail to send mail.`, 'Delete'))) return;
    listNotice.hide();
    try {
      await api.deleteSmtpServer(identifier);
      listNotice.success(`The SMTP server "${identifier}" was deleted.`);
    } catch (error) {
      listNotice.error(error.message);
    }
    await refresh();
    showEditor(undefined);
  };

  const showEditor = (server) => {
    editorArea.replaceChildren(buildEditor(server, saved, () => showEditor(undefined)), buildTestMailForm(Object.keys(servers)));
    if (server) editorArea.querySelector('input[name=server]').focus();
  };

  const saved = async (identifier) => {
    await refresh();
    showEditor(undefined);
    listNotice.success(`The SMTP server "${identifier}" was saved.`);
    listArea.querySelector('h2').focus();
  };

  await refresh();
  showEditor(undefined);
}

function buildEditor(server, onSaved, onReset) {
  const isNew = !server;
  const notice = createNotice();
  const identifier = field({
    label: 'Identifier', name: 'identifier', value: server?.identifier ?? '', required: true,
    hint: isNew ? '1 to 64 letters, digits or _.- ; this is the name tokens refer to.' : undefined,
    attributes: isNew ? {} : { readonly: true },
  });
  const host = field({ label: 'Server', name: 'server', value: server?.server ?? '', required: true, hint: 'Host name or IP address; smtps://host for TLS from the first byte.' });
  const port = field({ label: 'Port', name: 'port', type: 'number', value: String(server?.port ?? 25), attributes: { min: 1, max: 65535, inputmode: 'numeric' } });
  const tls = checkboxField({ label: 'Use TLS (STARTTLS)', name: 'tls', checked: server?.tls ?? false });
  const username = field({ label: 'User', name: 'username', value: server?.username ?? '', hint: 'Leave empty to send without SMTP authentication.' });
  const password = storedPasswordField({ label: 'Password', name: 'password', isStored: server?.password === CENSORED });
  const sender = field({ label: 'Sender address', name: 'sender', type: 'email', value: server?.sender ?? '', required: true });
  const timeout = field({ label: 'Timeout (seconds)', name: 'timeout', type: 'number', value: String(server?.timeout ?? 10), attributes: { min: 1, max: 300, inputmode: 'numeric' } });
  const description = field({ label: 'Description', name: 'description', value: server?.description ?? '' });
  const form = h(
    'form',
    { class: 'card form', novalidate: true, 'aria-labelledby': 'smtp-editor-title' },
    h('h2', { id: 'smtp-editor-title' }, isNew ? 'Add an SMTP server' : `Edit SMTP server "${server.identifier}"`),
    notice.element,
    h('div', { class: 'grid-2' }, identifier.row, description.row),
    h('div', { class: 'grid-2' }, host.row, port.row),
    tls.row,
    h('div', { class: 'grid-2' }, username.row, password.row),
    h('div', { class: 'grid-2' }, sender.row, timeout.row),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'button primary' }, isNew ? 'Add server' : 'Save changes'),
      isNew ? null : h('button', { type: 'button', class: 'button secondary', onClick: onReset }, 'Cancel'),
    ),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    notice.hide();
    clearInvalidFields(form);
    if (identifier.input.value.trim() === '') {
      // The identifier is part of the URL: without one the request would only meet a bare 404.
      notice.error('Enter an identifier for the server.');
      identifier.input.setAttribute('aria-invalid', 'true');
      identifier.input.focus();
      return;
    }
    const newPassword = password.submitValue();
    const body = {
      identifier: identifier.input.value.trim(),
      server: host.input.value.trim(),
      port: port.input.value.trim(),
      tls: tls.input.checked,
      username: username.input.value.trim(),
      // This endpoint replaces the whole record: keeping the stored password means saying so.
      password: newPassword ?? (server?.password === CENSORED ? CENSORED : ''),
      sender: sender.input.value.trim(),
      timeout: timeout.input.value.trim(),
      description: description.input.value,
    };
    try {
      await whileBusy(form, () => api.saveSmtpServer(body));
    } catch (error) {
      notice.error(error.message);
      markInvalidField(form, error.message);
      return;
    }
    await onSaved(body.identifier);
  });
  return form;
}

function buildTestMailForm(identifiers) {
  if (identifiers.length === 0) return h('div', {});
  const notice = createNotice();
  const select = h('select', { id: 'test-mail-server', name: 'identifier' }, identifiers.map((name) => h('option', { value: name }, name)));
  const recipient = field({ label: 'Recipient', name: 'recipient', type: 'email', required: true, autocomplete: 'email' });
  const form = h(
    'form',
    { class: 'card form', novalidate: true, 'aria-labelledby': 'test-mail-title' },
    h('h2', { id: 'test-mail-title' }, 'Send a test mail'),
    notice.element,
    h('div', { class: 'grid-2' }, h('div', { class: 'field' }, h('label', { for: 'test-mail-server' }, 'SMTP server'), select), recipient.row),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button secondary' }, 'Send test mail')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    notice.hide();
    try {
      const { value, detail } = await whileBusy(form, () => api.sendTestEmail(select.value, recipient.input.value.trim()));
      if (value === true) notice.success(`A test mail was sent to ${recipient.input.value.trim()} through "${select.value}".`);
      else notice.error(`${detail.message ?? 'The test mail could not be sent'}${detail.reason ? ` (${detail.reason})` : ''}.`);
    } catch (error) {
      notice.error(error.message);
      markInvalidField(form, error.message);
    }
  });
  return form;
}
