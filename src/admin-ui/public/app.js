import { clearSession, login, onSessionLost, readSession } from './api.js';
import { createNotice, field, h, whileBusy } from './dom.js';
import { renderConfig } from './views/config.js';
import { renderTokens } from './views/tokens.js';
import { renderUsers } from './views/users.js';

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');

/** Hash routes: the page never reloads, and each view is reachable by URL and the back button. */
const ROUTES = [
  { pattern: /^\/tokens$/, section: 'tokens', render: renderTokens },
  { pattern: /^\/users$/, section: 'users', render: renderUsers },
  { pattern: /^\/config(?:\/(.*))?$/, section: 'config', render: renderConfig },
];

let loginMessage = '';

/** "#/tokens?user=alice" -> { path: "/tokens", params: URLSearchParams("user=alice") } */
function currentLocation() {
  const [rawPath = '', query = ''] = location.hash.replace(/^#/, '').split('?');
  return { path: rawPath === '' || rawPath === '/' ? '/tokens' : rawPath, params: new URLSearchParams(query) };
}

function showLogin() {
  topbar.hidden = true;
  document.title = 'Log in · mailotp';
  const notice = createNotice();
  const username = field({ label: 'Username', name: 'username', autocomplete: 'username', required: true });
  const password = field({ label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h(
    'form',
    { class: 'card login-card', 'aria-labelledby': 'login-title', novalidate: true },
    h('div', { class: 'login-brand' }, h('img', { src: '/admin/favicon.svg', alt: '', width: 36, height: 36 }), h('span', {}, 'mailotp')),
    h('h1', { id: 'login-title' }, 'Administration'),
    notice.element,
    username.row,
    password.row,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button primary wide' }, 'Log in')),
  );
  if (loginMessage) notice.error(loginMessage);
  loginMessage = '';
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    notice.hide();
    if (!username.input.value.trim()) {
      notice.error('Enter your username.');
      username.input.focus();
      return;
    }
    try {
      await whileBusy(form, () => login(username.input.value.trim(), password.input.value));
      password.input.value = '';
      if (location.hash === '' || location.hash === '#/login') location.hash = '#/tokens';
      else route();
    } catch (error) {
      notice.error(error.message);
      password.input.value = '';
      password.input.focus();
    }
  });
  main.replaceChildren(h('div', { class: 'login-page' }, form));
  username.input.focus();
}

function markNavigation(section) {
  for (const link of document.querySelectorAll('.mainnav a')) {
    if (link.dataset.section === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function route() {
  const session = readSession();
  if (!session) {
    showLogin();
    return;
  }
  topbar.hidden = false;
  document.getElementById('session-user').textContent = session.username ?? '';
  const { path, params } = currentLocation();
  const match = ROUTES.map((candidate) => ({ candidate, groups: candidate.pattern.exec(path) })).find(({ groups }) => groups);
  if (!match) {
    location.replace('#/tokens');
    return;
  }
  markNavigation(match.candidate.section);
  const view = h('div', { class: 'view' });
  main.replaceChildren(view);
  await match.candidate.render(view, match.groups.slice(1), params);
  // Move focus to the new page's heading so keyboard and screen reader users land on the content.
  const title = document.getElementById('page-title');
  if (title) {
    document.title = `${title.textContent} · mailotp`;
    if (document.activeElement === document.body || !main.contains(document.activeElement)) title.focus({ preventScroll: true });
  }
}

document.getElementById('logout').addEventListener('click', () => {
  clearSession();
  loginMessage = '';
  showLogin();
});

onSessionLost((error) => {
  loginMessage = `${error.message} Please log in again.`;
  showLogin();
});

window.addEventListener('hashchange', () => void route());
void route();

