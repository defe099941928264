import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASES } from '../../support/databases.js';
import { startTestApp, type TestApp } from '../../support/test-app.js';

for (const database of DATABASES) {
  describe(`${database}: the * wildcard in admin listings`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, smtp: false });
      for (const login of ['a_b', 'axb', 'a%c']) await t.call('/user/', { json: { user: login, email: `${login.replace('%', 'p')}@example.test` } });
      for (const serial of ['EM_1', 'EMX1']) await t.call('/token/init', { json: { type: 'email', serial, email: 'x@example.test' } });
    });
    after(async () => t.close());

    it('GET /user/?username= takes * as the wildcard and _ and % literally', async () => {
      const logins = async (pattern: string): Promise<string[]> =>
        ((await t.json('/user/', { method: 'GET', params: { username: pattern } }))['result'].value as Array<{ username: string }>).map((user) => user.username).sort();
      assert.deepEqual(await logins('a_*'), ['a_b']);
      assert.deepEqual(await logins('a%*'), ['a%c']);
      assert.deepEqual(await logins('a*'), ['a%c', 'a_b', 'axb']);
    });

    it('GET /token/?serial= does the same for serials', async () => {
      const serials = async (pattern: string): Promise<string[]> =>
        ((await t.json('/token/', { method: 'GET', params: { serial: pattern } }))['result'].value.tokens as Array<{ serial: string }>).map((token) => token.serial).sort();
      assert.deepEqual(await serials('EM_*'), ['EM_1']);
      assert.deepEqual(await serials('EM*'), ['EMX1', 'EM_1']);
    });
  });
}
