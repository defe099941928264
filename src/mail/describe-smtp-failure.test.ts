import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OtpError } from '../core/errors.js';
import { describeSmtpFailure, isTransientSmtpFailure, SmtpFailure } from './describe-smtp-failure.js';

/** Shaped like nodemailer's _formatError output, reply text included. */
function nodemailerError(message: string, fields: { code?: string; responseCode?: number; command?: string; response?: string }): Error {
  return Object.assign(new Error(message), fields);
}

describe('describeSmtpFailure', () => {
  it('calls a 4xx reply transient and a 5xx reply permanent', () => {
    const busy = describeSmtpFailure(nodemailerError('Recipient command failed', { code: 'EENVELOPE', responseCode: 450, command: 'RCPT TO' }));
    const refused = describeSmtpFailure(nodemailerError('Recipient command failed', { code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO' }));
    assert.deepEqual([busy.isTransient, busy.detail], [true, 'EENVELOPE 450 RCPT TO']);
    assert.deepEqual([refused.isTransient, refused.detail], [false, 'EENVELOPE 550 RCPT TO']);
  });

  it('calls connection failures and timeouts transient', () => {
    for (const code of ['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED']) {
      assert.equal(isTransientSmtpFailure(nodemailerError('connect failed', { code, command: 'CONN' })), true, code);
    }
  });

  it('calls authentication failures permanent, with or without a reply code', () => {
    assert.equal(isTransientSmtpFailure(nodemailerError('Invalid login', { code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN' })), false);
    assert.equal(isTransientSmtpFailure(nodemailerError('Missing credentials', { code: 'EAUTH', command: 'API' })), false);
  });

  it('calls a refused certificate permanent even though nodemailer labels it a socket error', () => {
    const failure = describeSmtpFailure(nodemailerError('self-signed certificate', { code: 'ESOCKET', command: 'CONN' }));
    assert.equal(failure.isCertificateFailure, true);
    assert.equal(failure.isTransient, false);
    assert.match(failure.detail, /certificate rejected/);
  });

  it('calls unknown errors permanent', () => {
    assert.equal(isTransientSmtpFailure(new Error('something odd')), false);
    assert.equal(isTransientSmtpFailure(undefined), false);
    assert.equal(describeSmtpFailure('text').code, 'EUNKNOWN');
  });

  it('never copies the server reply text into the description', () => {
    const failure = describeSmtpFailure(
      nodemailerError('Invalid login: 535 bad password hunter2 for bob', { code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN', response: '535 bad password hunter2 for bob' }),
    );
    assert.doesNotMatch(JSON.stringify(failure), /hunter2|bob/);
  });

  it('ignores a command that is not one of nodemailer\'s constants', () => {
    assert.equal(describeSmtpFailure(nodemailerError('x', { code: 'EAUTH', command: 'AUTH PLAIN AGJvYgBodW50ZXIy' })).command, undefined);
  });

  it('reads the classification back from the OtpError the mailer throws', () => {
    const cause = new SmtpFailure(describeSmtpFailure(nodemailerError('Greeting never received', { code: 'ETIMEDOUT', command: 'CONN' })));
    const error = new OtpError('MAIL_DELIVERY_FAILED', { detail: 'system: ETIMEDOUT CONN (transient)', cause });
    assert.deepEqual(
      { code: describeSmtpFailure(error).code, isTransient: describeSmtpFailure(error).isTransient },
      { code: 'ETIMEDOUT', isTransient: true },
    );
  });
});
