import { api } from '../api.js';
import { checkboxField, confirmAction, createNotice, field, h, pageHeader, whileBusy } from '../dom.js';
import { clearInvalidFields, markInvalidField } from './form-errors.js';

const PAGE_SIZE = 25;

function statusOf(token) {
  if (token.revoked) return { text: 'Revoked', tone: 'bad' };
  if (token.locked) return { text: 'Locked', tone: 'bad' };
  if (!token.active) return { text: 'Disabled', tone: 'muted' };
  if (token.failcount >= token.maxfail) return { text: 'Fail limit reached', tone: 'bad' };
  return { text: 'Active', tone: 'good' };
}

function addressOf(token) {
  if (token.info?.dynamic_email === 'True') return "User's address";
  return token.info?.email ?? '';
}

/** Email tokens: list with enable/disable/reset/delete, and enrolment for a user. */
export async function renderTokens(container, _groups, params) {
  const userFilter = params.get('user') ?? '';
  let page = 1;
  container.append(pageHeader('Tokens', 'Email tokens mail a one-time password when a user signs in with their PIN.'));
  const listNotice = createNotice();
  const filterLine = userFilter
    ? h('p', { class: 'filter-line' }, 'Showing the tokens of ', h('strong', {}, userFilter), '. ', h('a', { href: '#/tokens' }, 'Show all tokens'))
    : null;
  const tableArea = h('div', {}, h('p', { class: 'loading' }, 'Loading tokens…'));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Token pages' });
  const listSection = h(
    'section',
    { 'aria-labelledby': 'tokens-list-title' },
    h('h2', { id: 'tokens-list-title', tabindex: '-1' }, userFilter ? 'Tokens of this user' : 'All tokens'),
    filterLine,
    listNotice.element,
    tableArea,
    pager,
  );

  const refresh = async () => {
    let result;
    try {
      result = await api.listTokens({ page, pagesize: PAGE_SIZE, user: userFilter || undefined });
    } catch (error) {
      listNotice.error(error.message);
      tableArea.replaceChildren();
      return;
    }
    tableArea.replaceChildren(renderTable(result.tokens));
    renderPager(result);
  };

  const renderPager = (result) => {
    pager.replaceChildren();
    if (!result.prev && !result.next) return;
    pager.append(
      h('button', { type: 'button', class: 'button secondary small', disabled: !result.prev, onClick: () => { page = result.prev; void refresh(); } }, 'Previous'),
      h('span', { class: 'pager-text' }, `Page ${result.current} of ${Math.max(1, Math.ceil(result.count / PAGE_SIZE))} (${result.count} tokens)`),
      h('button', { type: 'button', class: 'button secondary small', disabled: !result.next, onClick: () => { page = result.next; void refresh(); } }, 'Next'),
    );
  };

  const act = async (label, work, doneText) => {
    listNotice.hide();
    try {
      await work();
      listNotice.success(doneText);
    } catch (error) {
      listNotice.error(`${label}: ${error.message}`);
    }
    await refresh();
  };

  const renderTable = (tokens) => {
    if (tokens.length === 0) return h('p', { class: 'empty' }, userFilter ? 'This user has no token yet.' : 'No tokens yet. Enrol the first one below.');
    return h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { id: 'tokens-table' },
        h('caption', { class: 'visually-hidden' }, 'Tokens'),
        h('thead', {}, h('tr', {}, ['Serial', 'User', 'Email', 'Description', 'Status', 'Failed', 'Actions'].map((title) => h('th', { scope: 'col' }, title)))),
        h(
          'tbody',
          {},
          tokens.map((token) => {
            const status = statusOf(token);
            const hidden = (text) => h('span', { class: 'visually-hidden' }, ` ${text}`);
            return h(
              'tr',
              {},
              h('th', { scope: 'row', class: 'mono' }, token.serial),
              h('td', {}, token.username ? token.username : h('span', { class: 'muted' }, 'none')),
              h('td', {}, addressOf(token)),
              h('td', {}, token.description),
              h('td', {}, h('span', { class: `badge ${status.tone}` }, status.text)),
              h('td', {}, `${token.failcount} / ${token.maxfail}`),
              h(
                'td',
                { class: 'row-actions' },
                token.active
                  ? h('button', { type: 'button', class: 'button secondary small', onClick: () => void act('Disable', () => api.tokenAction('disable', token.serial), `Token ${token.serial} was disabled.`) }, 'Disable', hidden(token.serial))
                  : h('button', { type: 'button', class: 'button secondary small', onClick: () => void act('Enable', () => api.tokenAction('enable', token.serial), `Token ${token.serial} was enabled.`) }, 'Enable', hidden(token.serial)),
                h('button', { type: 'button', class: 'button secondary small', disabled: token.failcount === 0, onClick: () => void act('Reset', () => api.tokenAction('reset', token.serial), `The fail counter of ${token.serial} was reset.`) }, 'Reset fail counter', hidden(token.serial)),
                h('button', {
                  type: 'button', class: 'button danger small',
                  onClick: async () => {
                    if (!(await confirmAction(`Delete the token ${token.serial}? Its owner can no longer sign in with it.`, 'Delete token'))) return;
                    await act('Delete', () => api.deleteToken(token.serial), `Token ${token.serial} was deleted.`);
                  },
                }, 'Delete', hidden(token.serial)),
              ),
            );
          }),
        ),
      ),
    );
  };

  container.append(listSection, await buildEnrolForm(userFilter, refresh));
  await refresh();
}

async function buildEnrolForm(preselectedUser, onEnrolled) {
  const notice = createNotice();
  let users = [];
  try {
    users = await api.listUsers();
  } catch (error) {
    notice.error(error.message);
  }
  const userSelect = h('select', { id: 'enrol-user', name: 'user', 'aria-describedby': 'enrol-user-hint' });
  userSelect.append(h('option', { value: '' }, 'Choose a user…'));
  for (const user of users) {
    const name = [user.givenname, user.surname].filter(Boolean).join(' ');
    userSelect.append(h('option', { value: user.username }, name ? `${user.username} (${name})` : user.username));
  }
  userSelect.value = users.some((user) => user.username === preselectedUser) ? preselectedUser : '';
  const email = field({ label: 'Email address', name: 'email', type: 'email', autocomplete: 'off', hint: 'Where the one-time passwords are sent.' });
  const dynamic = checkboxField({
    label: "Always use the user's current email address", name: 'dynamic_email',
    hint: 'The address is read from the user record at every sign-in instead of being fixed now.',
  });
  const pin = field({ label: 'PIN', name: 'pin', type: 'password', autocomplete: 'new-password', hint: 'The user enters this PIN to get a code mailed.' });
  const pinRepeat = field({ label: 'Repeat PIN', name: 'pin-repeat', type: 'password', autocomplete: 'new-password' });
  const description = field({ label: 'Description', name: 'description' });
  const fillEmail = () => {
    const user = users.find((candidate) => candidate.username === userSelect.value);
    if (user && !dynamic.input.checked) email.input.value = user.email ?? '';
  };
  userSelect.addEventListener('change', fillEmail);
  dynamic.input.addEventListener('change', () => {
    email.input.disabled = dynamic.input.checked;
    if (!dynamic.input.checked) fillEmail();
  });
  fillEmail();

  const form = h(
    'form',
    { class: 'card form', novalidate: true, 'aria-labelledby': 'enrol-title' },
    h('h2', { id: 'enrol-title' }, 'Enrol an email token'),
    notice.element,
    h(
      'div',
      { class: 'grid-2' },
      h('div', { class: 'field' }, h('label', { for: 'enrol-user' }, 'User'), userSelect, h('p', { class: 'hint', id: 'enrol-user-hint' }, 'Add people on the Users page first.')),
      description.row,
    ),
    h('div', { class: 'grid-2' }, email.row, h('div', { class: 'field-spacer' }, dynamic.row)),
    h('div', { class: 'grid-2' }, pin.row, pinRepeat.row),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button primary' }, 'Enrol token')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    notice.hide();
    clearInvalidFields(form);
    if (pin.input.value !== pinRepeat.input.value) {
      notice.error('The two PINs do not match.');
      pinRepeat.input.setAttribute('aria-invalid', 'true');
      pinRepeat.input.focus();
      return;
    }
    const request = {
      user: userSelect.value || undefined,
      pin: pin.input.value,
      description: description.input.value.trim() || undefined,
      ...(dynamic.input.checked ? { dynamic_email: true } : { email: email.input.value.trim() }),
    };
    let serial;
    try {
      const { detail } = await whileBusy(form, () => api.enrolToken(request));
      serial = detail.serial;
    } catch (error) {
      notice.error(error.message);
      markInvalidField(form, error.message);
      return;
    }
    pin.input.value = '';
    pinRepeat.input.value = '';
    description.input.value = '';
    notice.success(`Token ${serial} was enrolled${request.user ? ` for ${request.user}` : ''}.`);
    await onEnrolled();
  });
  return form;
}
