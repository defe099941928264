import type { Command } from '../command.js';

/** Opening the database already migrates it (every start does); this command makes that step explicit. */
export const MIGRATE_COMMAND: Command = {
  words: ['migrate'],
  synopsis: '',
  summary: 'bring the database schema up to date (safe to run again)',
  positionalNames: [],
  optionNames: [],
  async run({ composed, print }) {
    for (const name of composed.appliedMigrations) print(`applied ${name}`);
    print(composed.appliedMigrations.length === 0 ? 'database schema is up to date' : 'database schema is now up to date');
  },
};
