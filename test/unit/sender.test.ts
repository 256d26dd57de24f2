import { describe, expect, it } from 'vitest';
import { headerBag } from '../../src/domain/headers.js';
import { addressesIn, chooseSender, cleanAddress } from '../../src/domain/sender.js';

const bag = (...lines: string[]) =>
  headerBag(lines.map((line) => ({ key: line.slice(0, line.indexOf(':')).toLowerCase(), line })));

describe('cleanAddress and addressesIn', () => {
  it('repairs trailing dots, brackets, quotes, mailto: and case', () => {
    expect(cleanAddress('claudia.shu@yahoo.com.')).toBe('claudia.shu@yahoo.com');
    expect(cleanAddress('<Bob@Example.COM>')).toBe('bob@example.com');
    expect(cleanAddress('mailto:ann@example.org')).toBe('ann@example.org');
  });
  it('prefers bracketed addresses over address-like display names', () => {
    expect(addressesIn('"support@vendor.example via Ann" <ann@example.org>')).toEqual([
      'ann@example.org',
    ]);
  });
  it('reads addresses through broken quoting and missing brackets', () => {
    expect(addressesIn('"Smith, John <john.smith@example.com>')).toEqual([
      'john.smith@example.com',
    ]);
    expect(addressesIn('"Bob O"Neil" <bob@example.ie>')).toEqual(['bob@example.ie']);
    expect(addressesIn('Jane Doe jane@example.org (work)')).toEqual(['jane@example.org']);
    expect(addressesIn('Nested <<n@example.org>>')).toEqual(['n@example.org']);
  });
  it('finds nothing in empty brackets, groups and bare names', () => {
    expect(addressesIn('"我" <>')).toEqual([]);
    expect(addressesIn('undisclosed-recipients:;')).toEqual([]);
    expect(addressesIn('Kyocera ECOSYS M2540dn')).toEqual([]);
    expect(addressesIn('mailer@')).toEqual([]);
  });
});

describe('chooseSender', () => {
  it('takes the From address of ordinary mail', () => {
    expect(chooseSender(bag('From: Ann <ann@example.org>', 'Reply-To: x@example.org'))).toEqual({
      address: 'ann@example.org',
      source: 'from',
      index: 0,
      reason: 'From holds a usable address',
    });
  });
  it('takes the second From header when the first is junk', () => {
    const c = chooseSender(bag('From: Mail System <mailer@>', 'From: b@example.com'));
    expect(c).toMatchObject({ address: 'b@example.com', source: 'from', index: 1 });
    expect(c?.reason).toBe(
      'the first From header has no usable address; took the second From header',
    );
  });
  it('falls back to Reply-To, then Sender, then the envelope Return-Path, saying why', () => {
    expect(chooseSender(bag('Reply-To: r@example.com', 'Return-Path: <e@example.com>'))).toEqual({
      address: 'r@example.com',
      source: 'reply-to',
      index: 0,
      reason: 'no From header; took Reply-To',
    });
    expect(chooseSender(bag('From: "我" <>', 'Sender: s@example.cn'))).toMatchObject({
      address: 's@example.cn',
      source: 'sender',
      reason: 'From has no usable address; no Reply-To header; took Sender',
    });
    expect(chooseSender(bag('Return-Path: <e@example.cn>', 'From: "我" <>'))).toMatchObject({
      address: 'e@example.cn',
      source: 'return-path',
    });
  });
  it('reads a raw UTF-8 address (header values are kept as latin1 bytes)', () => {
    const line = Buffer.from('From: José <josé@example.es>', 'utf8').toString('latin1');
    expect(chooseSender(bag(line))?.address).toBe('josé@example.es');
  });
  it('is null when no header has a usable address (null envelope sender included)', () => {
    expect(chooseSender(bag('From: "我" <>', 'Return-Path: <>'))).toBeNull();
    expect(chooseSender(bag('Subject: hi'))).toBeNull();
  });
});
