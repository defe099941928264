import { h } from '../dom.js';
import { renderEmailConfig } from './email-config.js';
import { renderSmtpServers } from './smtp-servers.js';

/** Config, laid out like privacyIDEA's: token types on one side (Email), SMTP servers beside them. */
const PAGES = [
  { path: 'tokens/email', group: 'Tokens', label: 'Email', render: renderEmailConfig },
  { path: 'smtpservers', group: 'System', label: 'SMTP servers', render: renderSmtpServers },
];

export async function renderConfig(view, [subPath]) {
  const page = PAGES.find((candidate) => candidate.path === subPath);
  if (!page) {
    location.replace('#/config/tokens/email');
    return;
  }
  const groups = [...new Set(PAGES.map((candidate) => candidate.group))];
  const sideNav = h(
    'nav',
    { class: 'sidenav', 'aria-label': 'Configuration' },
    groups.map((group) => [
      h('h2', { class: 'sidenav-group' }, group),
      h(
        'ul',
        {},
        PAGES.filter((candidate) => candidate.group === group).map((candidate) =>
          h('li', {}, h('a', { href: `#/config/${candidate.path}`, 'aria-current': candidate === page ? 'page' : null }, candidate.label)),
        ),
      ),
    ]),
  );
  const content = h('div', { class: 'config-content' });
  view.append(h('div', { class: 'with-sidenav' }, sideNav, content));
  await page.render(content);
}
