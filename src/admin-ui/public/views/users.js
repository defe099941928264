import { api } from '../api.js';
import { confirmAction, createNotice, field, h, pageHeader, whileBusy } from '../dom.js';
import { clearInvalidFields, markInvalidField } from './form-errors.js';

/** Users of the default realm: list, add, delete; each row links to enrolling a token for that user. */
export async function renderUsers(container) {
  container.append(pageHeader('Users', 'People who can sign in with an email one-time password.'));
  const listNotice = createNotice();
  const tableArea = h('div', {}, h('p', { class: 'loading' }, 'Loading users…'));
  const listSection = h('section', { 'aria-labelledby': 'users-list-title' }, h('h2', { id: 'users-list-title', tabindex: '-1' }, 'All users'), listNotice.element, tableArea);

  const refresh = async () => {
    let users;
    try {
      users = await api.listUsers();
    } catch (error) {
      listNotice.error(error.message);
      tableArea.replaceChildren();
      return;
    }
    tableArea.replaceChildren(renderTable(users));
  };

  const remove = async (user) => {
    if (!(await confirmAction(`Delete the user "${user.username}"? Their tokens stay but no longer belong to anyone.`, 'Delete user'))) return;
    listNotice.hide();
    try {
      await api.deleteUser(user.resolver, user.username);
      listNotice.success(`The user "${user.username}" was deleted.`);
    } catch (error) {
      listNotice.error(error.message);
    }
    await refresh();
  };

  const renderTable = (users) => {
    if (users.length === 0) return h('p', { class: 'empty' }, 'No users yet. Add the first one below.');
    return h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { id: 'users-table' },
        h('caption', { class: 'visually-hidden' }, 'Users'),
        h('thead', {}, h('tr', {}, ['Username', 'Given name', 'Surname', 'Email', 'Actions'].map((title) => h('th', { scope: 'col' }, title)))),
        h(
          'tbody',
          {},
          users.map((user) =>
            h(
              'tr',
              {},
              h('th', { scope: 'row' }, user.username),
              h('td', {}, user.givenname),
              h('td', {}, user.surname),
              h('td', {}, user.email),
              h(
                'td',
                { class: 'row-actions' },
                h('a', { class: 'button secondary small', href: `#/tokens?user=${encodeURIComponent(user.username)}` }, 'Enrol token', h('span', { class: 'visually-hidden' }, ` for ${user.username}`)),
                h('button', { type: 'button', class: 'button danger small', onClick: () => void remove(user) }, 'Delete', h('span', { class: 'visually-hidden' }, ` ${user.username}`)),
              ),
            ),
          ),
        ),
      ),
    );
  };

  const notice = createNotice();
  const login = field({ label: 'Username', name: 'user', required: true, hint: 'The name users sign in with.' });
  const email = field({ label: 'Email', name: 'email', type: 'email', required: true, autocomplete: 'off' });
  const givenname = field({ label: 'Given name', name: 'givenname' });
  const surname = field({ label: 'Surname', name: 'surname' });
  const form = h(
    'form',
    { class: 'card form', novalidate: true, 'aria-labelledby': 'user-add-title' },
    h('h2', { id: 'user-add-title' }, 'Add a user'),
    notice.element,
    h('div', { class: 'grid-2' }, login.row, email.row),
    h('div', { class: 'grid-2' }, givenname.row, surname.row),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button primary' }, 'Add user')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    notice.hide();
    clearInvalidFields(form);
    const user = {
      user: login.input.value.trim(),
      email: email.input.value.trim(),
      givenname: givenname.input.value.trim(),
      surname: surname.input.value.trim(),
    };
    try {
      await whileBusy(form, () => api.addUser(user));
    } catch (error) {
      notice.error(error.message);
      markInvalidField(form, error.message);
      return;
    }
    form.reset();
    notice.success(`The user "${user.user}" was added.`);
    login.input.focus();
    await refresh();
  });

  container.append(listSection, form);
  await refresh();
}
