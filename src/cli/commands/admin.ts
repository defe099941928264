import { addAdmin, setAdminPassword } from '../../core/admins/admin-service.js';
import { CliError } from '../cli-error.js';
import type { Command } from '../command.js';
import { readNewPassword } from '../read-password.js';

const addCommand: Command = {
  words: ['admin', 'add'],
  synopsis: '<name>',
  summary: 'add an admin; password: first line of stdin, or asked',
  positionalNames: ['name'],
  optionNames: [],
  async run({ composed, passwordInput, print }, { positionals: [name] }) {
    // Checked before asking, so nobody types a password twice for nothing; addAdmin checks again atomically.
    if (await composed.deps.store.admins.find(name!)) throw new CliError(`admin "${name}" already exists (use "mailotp admin passwd ${name}")`);
    const password = await readNewPassword(passwordInput);
    if (!(await addAdmin(composed.deps, name!, password))) throw new CliError(`admin "${name}" already exists`);
    print(`added admin "${name}"`);
  },
};

const listCommand: Command = {
  words: ['admin', 'list'],
  synopsis: '',
  summary: 'list admin names, one a line',
  positionalNames: [],
  optionNames: [],
  async run({ composed, print, note }) {
    const admins = await composed.deps.store.admins.list();
    if (admins.length === 0) note('no admins');
    for (const admin of admins) print(admin.username);
  },
};

const deleteCommand: Command = {
  words: ['admin', 'delete'],
  synopsis: '<name>',
  summary: 'delete an admin',
  positionalNames: ['name'],
  optionNames: [],
  async run({ composed, print }, { positionals: [name] }) {
    if (!(await composed.deps.store.admins.delete(name!))) throw new CliError(`no admin named "${name}"`);
    print(`deleted admin "${name}"`);
  },
};

const passwdCommand: Command = {
  words: ['admin', 'passwd'],
  synopsis: '<name>',
  summary: "change an admin's password (read as for add)",
  positionalNames: ['name'],
  optionNames: [],
  async run({ composed, passwordInput, print }, { positionals: [name] }) {
    if (!(await composed.deps.store.admins.find(name!))) throw new CliError(`no admin named "${name}"`);
    const password = await readNewPassword(passwordInput);
    if (!(await setAdminPassword(composed.deps, name!, password))) throw new CliError(`no admin named "${name}"`);
    print(`changed the password of admin "${name}"`);
  },
};

export const ADMIN_COMMANDS: readonly Command[] = [addCommand, listCommand, deleteCommand, passwdCommand];
