import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createAesSecretBox } from './aes-secret-box.js';

const key = randomBytes(32);

describe('AES-256-GCM secret box', () => {
  it('opens what it sealed, and never seals twice under one IV', () => {
    const box = createAesSecretBox(key);
    const sealed = Array.from({ length: 500 }, () => box.seal('smtp password'));
    for (const text of sealed) assert.equal(box.open(text), 'smtp password');
    assert.equal(new Set(sealed.map((text) => text.split('.')[1])).size, 500, 'an IV came back');
  });

  it('takes its IVs from the random source it is given', () => {
    const box = createAesSecretBox(key, { read: (bytes) => bytes.fill(7) });
    assert.equal(box.seal('a').split('.')[1], Buffer.alloc(12, 7).toString('base64url'));
  });

  it('refuses a sealed text that was changed, or sealed under another key', () => {
    const box = createAesSecretBox(key);
    const [version, iv, tag, ciphertext] = box.seal('smtp password').split('.');
    const flipped = Buffer.from(ciphertext!, 'base64url');
    flipped[0]! ^= 1;
    assert.throws(() => box.open([version, iv, tag, flipped.toString('base64url')].join('.')));
    assert.throws(() => createAesSecretBox(randomBytes(32)).open(box.seal('smtp password')));
    assert.throws(() => box.open('not sealed'), /not a sealed secret/);
  });
});
