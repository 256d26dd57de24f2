import { describe, it, expect } from 'vitest';
import { domainOf, isValidAddress, normalizeAddress } from '../../src/domain/address.js';

describe('normalizeAddress', () => {
  it('trims and lower-cases', () => {
    expect(normalizeAddress('  Alice@Example.COM \n')).toBe('alice@example.com');
  });

  it('strips angle brackets, also from a display-name form', () => {
    expect(normalizeAddress('<bob@example.test>')).toBe('bob@example.test');
    expect(normalizeAddress('Bob Smith <Bob@Example.test>')).toBe('bob@example.test');
    expect(normalizeAddress('"Smith, Bob" <bob@example.test> ')).toBe('bob@example.test');
  });

  it('keeps plus parts', () => {
    expect(normalizeAddress('Support+INC-000123.abc@Example.test')).toBe(
      'support+inc-000123.abc@example.test',
    );
  });

  it('returns empty for empty input and empty brackets', () => {
    expect(normalizeAddress('')).toBe('');
    expect(normalizeAddress('<>')).toBe('');
  });
});

describe('isValidAddress', () => {
  it.each([
    'a@example.com',
    'first.last+tag@sub.example.co.uk',
    'root@localhost',
    'ROOT@LOCALHOST',
    "o'brien@example.ie",
    'user@müller.de',
    'x@a-b.example',
  ])('accepts %s', (a) => {
    expect(isValidAddress(a)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['no @', 'example.com'],
    ['two @', 'a@b@example.com'],
    ['empty local', '@example.com'],
    ['empty domain', 'a@'],
    ['dotless domain', 'a@example'],
    ['space', 'a b@example.com'],
    ['tab', 'a\t@example.com'],
    ['control char', 'a\u0001@example.com'],
    ['DEL', 'a\u007f@example.com'],
    ['angle brackets', '<a@example.com>'],
    ['comma', 'a,b@example.com'],
    ['leading dot in local', '.a@example.com'],
    ['double dot in local', 'a..b@example.com'],
    ['empty domain label', 'a@example..com'],
    ['trailing dot domain', 'a@example.com.'],
    ['label starting with hyphen', 'a@-example.com'],
  ])('rejects %s', (_name, a) => {
    expect(isValidAddress(a)).toBe(false);
  });

  it('enforces the 254 character limit', () => {
    const domain = '@example.com';
    const ok = 'a'.repeat(254 - domain.length) + domain;
    expect(ok.length).toBe(254);
    expect(isValidAddress(ok)).toBe(true);
    expect(isValidAddress('a' + ok)).toBe(false);
  });
});

describe('domainOf', () => {
  it('is the part after the last @, as written, or the whole string without one', () => {
    expect(domainOf('Alice@Example.COM')).toBe('Example.COM');
    expect(domainOf('"a@b"@example.com')).toBe('example.com');
    expect(domainOf('no reply address')).toBe('no reply address');
  });
});
