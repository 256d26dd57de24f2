import { createHmac } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import {
  formatIncidentId,
  incidentFromMessageIds,
  incidentFromRecipients,
  incidentToken,
  issuedToken,
  legacyMessageId,
  legacyPlusAddress,
  outboundMessageId,
  parseIncidentArgument,
  tokenEvidence,
  tokensFromMessageIds,
  tokensFromRecipients,
  parseIncidentId,
  plusAddress,
  subjectIncident,
  type TokenRecipient,
} from '../../src/domain/tokens.js';

const SECRET = 's3cret';
const OTHER = 's3cret-rotated';

/** Independent oracle: base32 via a bit string, not the shift-register of the implementation. */
function oracleToken(secret: string, n: number): string {
  const mac = createHmac('sha256', secret).update(`incident:${n}`).digest();
  const bits = [...mac].map((b) => b.toString(2).padStart(8, '0')).join('');
  let out = '';
  for (let i = 0; i < 50; i += 5)
    out += 'abcdefghijklmnopqrstuvwxyz234567'[parseInt(bits.slice(i, i + 5), 2)];
  return out;
}

/** Changes one token character to a different valid base32 character. */
function tamper(token: string, at = 0): string {
  const c = token[at] === 'a' ? 'b' : 'a';
  return token.slice(0, at) + c + token.slice(at + 1);
}

describe('incidentToken', () => {
  it('is the first 10 lower-case base32 chars of HMAC-SHA256(secret, "incident:n")', () => {
    expect(incidentToken(SECRET, 123)).toBe('rafkjj5eb5');
    for (const n of [0, 1, 2, 99, 123456, 9_999_999]) {
      const t = incidentToken(SECRET, n);
      expect(t).toMatch(/^[a-z2-7]{10}$/);
      expect(t).toBe(oracleToken(SECRET, n));
    }
  });

  it('depends on the secret and the number', () => {
    expect(incidentToken(SECRET, 1)).not.toBe(incidentToken(OTHER, 1));
    expect(incidentToken(SECRET, 1)).not.toBe(incidentToken(SECRET, 2));
  });

  it('rejects non-integer and negative numbers', () => {
    expect(() => incidentToken(SECRET, -1)).toThrow(RangeError);
    expect(() => incidentToken(SECRET, 1.5)).toThrow(RangeError);
    expect(() => incidentToken(SECRET, Number.NaN)).toThrow(RangeError);
  });
});

describe('formatIncidentId / parseIncidentId', () => {
  it('pads to at least six digits and grows beyond', () => {
    expect(formatIncidentId(123)).toBe('INC-000123');
    expect(formatIncidentId(1)).toBe('INC-000001');
    expect(formatIncidentId(999999)).toBe('INC-999999');
    expect(formatIncidentId(1234567)).toBe('INC-1234567');
    expect(() => formatIncidentId(-5)).toThrow(RangeError);
  });

  it.each([
    ['INC-000123', 123],
    ['inc-123', 123],
    ['Inc-0000001', 1],
    ['  INC-1234567 ', 1234567],
  ])('parses %s', (s, n) => {
    expect(parseIncidentId(s)).toBe(n);
  });

  it.each([
    'INC-',
    'INC123',
    'INC-12a',
    'XINC-1',
    'INC-1 2',
    '[INC-000123]',
    '',
    'INC--1',
    '42',
    'INC-' + '9'.repeat(20),
  ])('rejects %j', (s) => {
    expect(parseIncidentId(s)).toBeNull();
  });

  it('round-trips', () => {
    for (const n of [0, 7, 123456, 10_000_000])
      expect(parseIncidentId(formatIncidentId(n))).toBe(n);
  });

  it('takes a bare number too on the command line, and nothing else new', () => {
    for (const [s, n] of [
      ['1', 1],
      [' 000042 ', 42],
      ['INC-1', 1],
      ['inc-000001', 1],
    ] as const)
      expect(parseIncidentArgument(s)).toBe(n);
    for (const s of ['-1', '1.5', 'INC 1', '', '9'.repeat(20)])
      expect(parseIncidentArgument(s)).toBeNull();
  });
});

describe('legacy Message-IDs / incidentFromMessageIds', () => {
  const id = legacyMessageId(SECRET, 123, 'ack-3f2a', 'incidesk.example.test');

  it('has the documented shape', () => {
    expect(id).toBe(`<INC-000123.ack-3f2a.${incidentToken(SECRET, 123)}@incidesk.example.test>`);
  });

  it.each(['', 'Ack', 'a_b', 'a.b', 'a b', 'a@b', 'a>b', 'ü'])('rejects uniquePart %j', (u) => {
    expect(() => legacyMessageId(SECRET, 1, u, 'example.test')).toThrow(TypeError);
  });

  it.each(['', 'a b.test', 'x@y.test', 'x>y', '.example.test'])('rejects domain %j', (d) => {
    expect(() => legacyMessageId(SECRET, 1, 'u', d)).toThrow(TypeError);
  });

  it('recovers the incident with or without angle brackets and in any case', () => {
    expect(incidentFromMessageIds(SECRET, [id])).toBe(123);
    expect(incidentFromMessageIds(SECRET, [id.slice(1, -1)])).toBe(123);
    expect(incidentFromMessageIds(SECRET, [id.toLowerCase()])).toBe(123);
    expect(incidentFromMessageIds(SECRET, [id.toUpperCase()])).toBe(123);
  });

  it('skips foreign ids and returns the first valid one', () => {
    const other = legacyMessageId(SECRET, 77, 'n1', 'incidesk.example.test');
    expect(incidentFromMessageIds(SECRET, ['<CAF=abc@mail.gmail.com>', other, id])).toBe(77);
  });

  it('splits a raw References value holding several ids', () => {
    expect(incidentFromMessageIds(SECRET, [`<a@x.test> <b@y.test>\r\n ${id}`])).toBe(123);
  });

  it('refuses a token with one character changed', () => {
    const token = incidentToken(SECRET, 123);
    for (const at of [0, 5, 9]) {
      const forged = id.replace(token, tamper(token, at));
      expect(forged).not.toBe(id);
      expect(incidentFromMessageIds(SECRET, [forged])).toBeNull();
    }
  });

  it('refuses a valid token moved to another incident number', () => {
    const forged = id.replace('INC-000123', 'INC-000124');
    expect(incidentFromMessageIds(SECRET, [forged])).toBeNull();
  });

  it('refuses ids signed with a different secret', () => {
    expect(incidentFromMessageIds(OTHER, [id])).toBeNull();
  });

  it('refuses truncated or extended tokens and malformed ids', () => {
    const token = incidentToken(SECRET, 123);
    expect(incidentFromMessageIds(SECRET, [id.replace(token, token.slice(0, 9))])).toBeNull();
    expect(incidentFromMessageIds(SECRET, [id.replace(token, token + 'a')])).toBeNull();
    expect(
      incidentFromMessageIds(SECRET, [`<INC-000123.${token}@incidesk.example.test>`]),
    ).toBeNull();
    expect(incidentFromMessageIds(SECRET, [])).toBeNull();
    expect(incidentFromMessageIds(SECRET, ['', '<>', 'INC-000123'])).toBeNull();
  });
});

describe('legacy plus-addresses / incidentFromRecipients', () => {
  const support = 'support@example.test';
  const plus = legacyPlusAddress(support, SECRET, 123);

  it('has the documented shape', () => {
    expect(plus).toBe(`support+INC-000123.${incidentToken(SECRET, 123)}@example.test`);
    expect(legacyPlusAddress('<support@example.test>', SECRET, 123)).toBe(plus);
  });

  it('rejects a support address without a domain', () => {
    expect(() => legacyPlusAddress('support', SECRET, 1)).toThrow(TypeError);
  });

  it('finds the incident among recipients, case-insensitively, with display names', () => {
    expect(incidentFromRecipients(support, SECRET, ['alice@example.test', plus])).toBe(123);
    expect(incidentFromRecipients(support, SECRET, [plus.toUpperCase()])).toBe(123);
    expect(incidentFromRecipients('Support@Example.TEST', SECRET, [plus])).toBe(123);
    expect(incidentFromRecipients(support, SECRET, [`"Support" <${plus}>`])).toBe(123);
  });

  it('refuses a tampered token, another secret, or a moved token', () => {
    const token = incidentToken(SECRET, 123);
    expect(
      incidentFromRecipients(support, SECRET, [plus.replace(token, tamper(token, 3))]),
    ).toBeNull();
    expect(incidentFromRecipients(support, OTHER, [plus])).toBeNull();
    expect(
      incidentFromRecipients(support, SECRET, [plus.replace('INC-000123', 'INC-000999')]),
    ).toBeNull();
  });

  it('refuses the right tag on another mailbox or domain', () => {
    expect(
      incidentFromRecipients(support, SECRET, [plus.replace('support+', 'sales+')]),
    ).toBeNull();
    expect(
      incidentFromRecipients(support, SECRET, [plus.replace('@example.test', '@evil.test')]),
    ).toBeNull();
    expect(
      incidentFromRecipients(support, SECRET, [plus.replace('support+', 'xsupport+')]),
    ).toBeNull();
  });

  it('ignores the bare support address and junk', () => {
    expect(
      incidentFromRecipients(support, SECRET, [support, '', 'nonsense', '@example.test']),
    ).toBeNull();
  });
});

describe('subjectIncident', () => {
  it.each([
    ['[INC-000123] Printer on fire', 123],
    ['Re: Fwd: [inc-000123] Printer on fire', 123],
    ['Printer on fire [Inc-42]', 42],
    ['[INC-000001] and [INC-000002]', 1],
  ])('finds the tag in %j', (s, n) => {
    expect(subjectIncident(s)).toBe(n);
  });

  it.each([
    'INC-000123 Printer',
    '(INC-000123)',
    '[INC-]',
    '[INC 123]',
    '[INC-12x]',
    '',
    'Printer on fire',
  ])('requires brackets and digits: %j', (s) => {
    expect(subjectIncident(s)).toBeNull();
  });
});

describe('issued tokens (bound to their recipient)', () => {
  const support = 'support@example.test';
  const cora = { address: 'Cora <Cora@Customer.example>', role: 'customer' } as const;
  const bob = { address: 'bob@example.test', role: 'agent' } as const;

  it('are 19 chars with a role letter, and fit a plus-address local part', () => {
    const t = issuedToken(SECRET, 123, cora);
    expect(t).toMatch(/^c[a-z2-7]{18}$/);
    expect(issuedToken(SECRET, 123, bob)).toMatch(/^a[a-z2-7]{18}$/);
    const local = plusAddress(support, SECRET, 999_999_999, bob).split('@')[0]!;
    expect(local.length).toBeLessThanOrEqual(64);
  });

  it('differ by recipient, role, incident and secret; the address is normalised', () => {
    const t = issuedToken(SECRET, 123, cora);
    expect(issuedToken(SECRET, 123, { address: 'cora@customer.example', role: 'customer' })).toBe(
      t,
    );
    expect(issuedToken(SECRET, 123, { address: 'cora@customer.example', role: 'agent' })).not.toBe(
      t,
    );
    expect(issuedToken(SECRET, 123, bob)).not.toBe(t);
    expect(issuedToken(SECRET, 124, cora)).not.toBe(t);
    expect(issuedToken(OTHER, 123, cora)).not.toBe(t);
  });

  it('thread for anyone holding them, in Message-IDs and plus-addresses', () => {
    const id = outboundMessageId(SECRET, 123, 'ack-1', 'example.test', cora);
    expect(incidentFromMessageIds(SECRET, [id])).toBe(123);
    expect(incidentFromRecipients(support, SECRET, [plusAddress(support, SECRET, 123, cora)])).toBe(
      123,
    );
    expect(incidentFromMessageIds(SECRET, [id.replace('INC-000123', 'INC-000124')])).toBeNull();
  });

  it('authorise only the agent address they were issued to', () => {
    const presented = (r: TokenRecipient, n = 123) => [
      ...tokensFromMessageIds(SECRET, [outboundMessageId(SECRET, n, 'x', 'example.test', r)]),
      ...tokensFromRecipients(support, SECRET, [plusAddress(support, SECRET, n, r)]),
    ];
    expect(tokenEvidence(SECRET, 123, presented(bob), 'Bob <BOB@example.test>')).toBe(
      'issued-to-sender',
    );
    // The customer's token, presented with a forged agent From.
    expect(tokenEvidence(SECRET, 123, presented(cora), 'bob@example.test')).toBe('issued-to-other');
    // Bob's address, but a customer-role token for it.
    const asCustomer = { address: 'bob@example.test', role: 'customer' } as const;
    expect(tokenEvidence(SECRET, 123, presented(asCustomer), 'bob@example.test')).toBe(
      'issued-to-other',
    );
    // Another incident's token says nothing about incident 123.
    expect(tokenEvidence(SECRET, 123, presented(bob, 7), 'bob@example.test')).toBe('none');
    const legacy = tokensFromRecipients(support, SECRET, [legacyPlusAddress(support, SECRET, 123)]);
    expect(legacy).toHaveLength(1);
    expect(tokenEvidence(SECRET, 123, legacy, 'bob@example.test')).toBe('legacy');
    // Any one genuine token among others is enough.
    expect(
      tokenEvidence(
        SECRET,
        123,
        [...legacy, ...presented(cora), ...presented(bob)],
        'bob@example.test',
      ),
    ).toBe('issued-to-sender');
  });

  it('refuse a tampered thread part', () => {
    const t = issuedToken(SECRET, 123, bob);
    const forged = `${t[0]}${tamper(t.slice(1), 2)}`;
    expect(
      tokensFromRecipients(support, SECRET, [`support+INC-000123.${forged}@example.test`]),
    ).toEqual([]);
  });
});
