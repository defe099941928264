import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalMessage } from './envelope-pipelining.js';

describe('canonicalMessage (the bytes a BDAT chunk carries)', () => {
  it('leaves a message with CRLF line ends and a final CRLF as it is, the same buffer', () => {
    const message = Buffer.from('Subject: a\r\n\r\n.dot stays\r\n');
    assert.equal(canonicalMessage(message), message);
  });

  it('makes bare line feeds CRLF and ends the message with CRLF', () => {
    assert.equal(canonicalMessage(Buffer.from('\nSubject: a\n\nbody')).toString(), '\r\nSubject: a\r\n\r\nbody\r\n');
    assert.equal(canonicalMessage(Buffer.from('body\r')).toString(), 'body\r\n');
    assert.equal(canonicalMessage(Buffer.from('body\n')).toString(), 'body\r\n');
    assert.equal(canonicalMessage(Buffer.from('a\r\rb\r\n')).toString(), 'a\r\rb\r\n');
  });

  it('counts bytes, not characters: a UTF-8 body keeps every byte', () => {
    const message = canonicalMessage(Buffer.from('Grüße\n'));
    assert.deepEqual(message, Buffer.from('Grüße\r\n'));
    assert.equal(message.length, 9);
  });

  it('makes an empty message one empty line', () => {
    assert.equal(canonicalMessage(Buffer.alloc(0)).toString(), '\r\n');
  });
});
