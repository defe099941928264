#!/usr/bin/env node
// Runs every compiled test file under dist/ with node's test runner. Test files bind port 0 and make
// their own databases, so two run side by side (the machines have 2 cores).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.js')) found.push(path);
  }
  return found;
}

const filters = process.argv.slice(2);
const roots = ['dist/src', 'dist/test', 'dist/bench'];
let files = roots.flatMap((root) => { try { return findTests(root); } catch { return []; } }).sort();
if (filters.length > 0) files = files.filter((file) => filters.some((filter) => file.includes(filter)));
if (files.length === 0) {
  console.error('no test files found; did the build run?');
  process.exit(1);
}
const concurrency = process.env.MAILOTP_TEST_CONCURRENCY ?? '2';
const result = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
