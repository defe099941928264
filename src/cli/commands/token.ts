import type { CoreDeps } from '../../core/deps.js';
import { listTokens, resetFailCount, setTokenActive } from '../../core/tokens/token-service.js';
import type { Token, TokenFilter } from '../../core/tokens/token.js';
import { parseUserReference, resolveUser } from '../../core/users/resolve-user.js';
import type { Command } from '../command.js';
import { formatTable } from '../format-table.js';

const PAGE_SIZE = 500;

async function filterFromOptions(deps: CoreDeps, options: Record<string, string>): Promise<Omit<TokenFilter, 'page'>> {
  const realm = options['realm'];
  const owner = options['user'] ? await resolveUser(deps.store, await parseUserReference(deps.store, options['user'], realm)) : undefined;
  return {
    ...(options['serial'] ? { serial: options['serial'] } : {}),
    ...(owner ? { owner: { resolver: owner.user.resolver, userId: owner.user.id } } : realm ? { realm } : {}),
    pageSize: PAGE_SIZE,
    sortBy: 'serial',
    sortDescending: false,
  };
}

async function allTokens(deps: CoreDeps, filter: Omit<TokenFilter, 'page'>): Promise<Token[]> {
  const tokens: Token[] = [];
  for (let page = 1; ; page++) {
    const result = await listTokens(deps, { ...filter, page });
    tokens.push(...result.tokens);
    if (result.tokens.length < PAGE_SIZE || tokens.length >= result.count) return tokens;
  }
}

/** One table row. Only public attributes: the PIN hash and the token's secrets never reach the terminal. */
async function describeToken(deps: CoreDeps, token: Token): Promise<string[]> {
  const user = token.owner ? await deps.store.users.findById(token.owner.resolver, token.owner.userId) : undefined;
  const state = token.isRevoked ? 'revoked' : token.isLocked ? 'locked' : token.isActive ? 'yes' : 'no';
  const email = token.info['email'] ?? (token.info['dynamic_email'] === 'True' ? '(user email)' : '');
  return [token.serial, user?.login ?? (token.owner ? `(${token.owner.userId})` : ''), token.owner?.realm ?? '', state, `${token.failCount}/${token.maxFailCount}`, email];
}

const listCommand: Command = {
  words: ['token', 'list'],
  synopsis: '[--user <login>] [--realm <realm>] [--serial <pattern>]',
  summary: 'list tokens; * in a pattern matches anything',
  positionalNames: [],
  optionNames: ['user', 'realm', 'serial'],
  async run({ composed, print, note }, { options }) {
    const { deps } = composed;
    const tokens = await allTokens(deps, await filterFromOptions(deps, options));
    if (tokens.length === 0) {
      note('no tokens match');
      return;
    }
    const rows = await Promise.all(tokens.map((token) => describeToken(deps, token)));
    print(formatTable(['SERIAL', 'USER', 'REALM', 'ACTIVE', 'FAILS/MAX', 'EMAIL'], rows).trimEnd());
  },
};

function activeCommand(isActive: boolean): Command {
  const verb = isActive ? 'enable' : 'disable';
  return {
    words: ['token', verb],
    synopsis: '<serial>',
    summary: `${verb} a token`,
    positionalNames: ['serial'],
    optionNames: [],
    async run({ composed, print }, { positionals: [serial] }) {
      const changed = await setTokenActive(composed.deps, serial!, isActive);
      print(changed ? `${verb}d token ${serial}` : `token ${serial} was already ${verb}d`);
    },
  };
}

const resetCommand: Command = {
  words: ['token', 'reset'],
  synopsis: '<serial>',
  summary: "set a token's fail counter back to 0",
  positionalNames: ['serial'],
  optionNames: [],
  async run({ composed, print }, { positionals: [serial] }) {
    await resetFailCount(composed.deps, serial!);
    print(`reset the fail counter of token ${serial}`);
  },
};

export const TOKEN_COMMANDS: readonly Command[] = [listCommand, activeCommand(true), activeCommand(false), resetCommand];
