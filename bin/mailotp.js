#!/usr/bin/env node
// The `mailotp` command. The TypeScript is compiled to dist/ by `npm run build` (npm ci runs it via "prepare").
let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/src/cli/main.js')) {
    process.stderr.write('error: mailotp is not built yet; run "npm run build" in the mailotp directory first\n');
    process.exit(1);
  }
  throw error;
}
await cli.main();
