import { describe, expect, it } from 'vitest';
import { isAuthFailure, serverWords } from '../../src/domain/server-errors.js';

const error = (message: string, fields: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), fields);

describe('server errors', () => {
  it('tells a refused sign-in from each client apart from a network failure', () => {
    expect(isAuthFailure(error('Command failed', { authenticationFailed: true }))).toBe(true); // imapflow
    expect(isAuthFailure(error('Invalid login', { code: 'EAUTH' }))).toBe(true); // nodemailer
    expect(isAuthFailure(error('x', { serverResponseCode: 'AUTHENTICATIONFAILED' }))).toBe(true);
    expect(isAuthFailure(error('Authentication failed.', { code: 18 }))).toBe(true); // MongoDB
    expect(isAuthFailure(error('WRONGPASS invalid username-password pair'))).toBe(true); // Redis
    expect(
      isAuthFailure(error('connect ECONNREFUSED 127.0.0.1:993', { code: 'ECONNREFUSED' })),
    ).toBe(false);
    expect(isAuthFailure(error('Greeting never received', { code: 'ETIMEOUT' }))).toBe(false);
  });

  it("quotes the server's own words when it gave any, else the client's message", () => {
    expect(
      serverWords(
        error('Command failed', {
          responseText: ' [AUTHENTICATIONFAILED] Authentication failed. ',
          response: 'ignored',
        }),
      ),
    ).toBe('[AUTHENTICATIONFAILED] Authentication failed.');
    expect(serverWords(error('Invalid login', { response: '535 5.7.8 Bad credentials' }))).toBe(
      '535 5.7.8 Bad credentials',
    );
    expect(serverWords(error('connect ECONNREFUSED 127.0.0.1:587'))).toBe(
      'connect ECONNREFUSED 127.0.0.1:587',
    );
    expect(serverWords('plain string')).toBe('plain string');
  });
});
