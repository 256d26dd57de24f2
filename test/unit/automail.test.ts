import { describe, it, expect } from 'vitest';
import { detectAutomatic } from '../../src/domain/automail.js';
import { headerBag, type HeaderBag } from '../../src/domain/headers.js';

function bag(...lines: string[]): HeaderBag {
  return headerBag(
    lines.map((line) => ({ key: line.slice(0, line.indexOf(':')).toLowerCase(), line })),
  );
}

const person = 'alice@example.test';

describe('detectAutomatic', () => {
  it('returns null for ordinary personal mail', () => {
    const h = bag(
      'From: Alice <alice@example.test>',
      'Return-Path: <alice@example.test>',
      'Precedence: first-class',
      'Auto-Submitted: no',
      'X-Auto-Response-Suppress: DR, RN',
      'Subject: printer on fire',
    );
    expect(detectAutomatic(h, person)).toBeNull();
    expect(detectAutomatic(bag(), undefined)).toBeNull();
  });

  describe('Auto-Submitted (RFC 3834)', () => {
    it('auto-replied is an auto-reply', () => {
      const r = detectAutomatic(bag('Auto-Submitted: auto-replied'), person);
      expect(r?.kind).toBe('auto-reply');
      expect(r?.reason).toMatch(/Auto-Submitted/);
    });

    it('auto-generated and unknown values are auto-generated, case-insensitive, with parameters', () => {
      expect(detectAutomatic(bag('Auto-Submitted: Auto-Generated'), person)?.kind).toBe(
        'auto-generated',
      );
      expect(
        detectAutomatic(bag('Auto-Submitted: auto-notified; owner-email="x@y.z"'), person)?.kind,
      ).toBe('auto-generated');
      expect(detectAutomatic(bag('Auto-Submitted: AUTO-REPLIED (vacation)'), person)?.kind).toBe(
        'auto-reply',
      );
    });

    it('"no" (any case) is not automatic', () => {
      expect(detectAutomatic(bag('Auto-Submitted: No'), person)).toBeNull();
      expect(detectAutomatic(bag('Auto-Submitted: no ; comment'), person)).toBeNull();
    });
  });

  it.each(['X-Autoreply: yes', 'X-Autorespond: Out of office', 'x-autoreply: true'])(
    '%s is an auto-reply',
    (line) => {
      const r = detectAutomatic(bag(line), person);
      expect(r?.kind).toBe('auto-reply');
      expect(r?.reason).toMatch(/X-Autore/);
    },
  );

  it('X-Autoreply: no is ignored', () => {
    expect(detectAutomatic(bag('X-Autoreply: no'), person)).toBeNull();
  });

  it.each(['All', 'OOF', 'AutoReply', 'DR, OOF, AutoReply', 'dr,all'])(
    'X-Auto-Response-Suppress: %s is automatic',
    (value) => {
      const r = detectAutomatic(bag(`X-Auto-Response-Suppress: ${value}`), person);
      expect(r?.kind).toBe('auto-generated');
      expect(r?.reason).toMatch(/X-Auto-Response-Suppress/);
    },
  );

  it('X-Auto-Response-Suppress with only DR/RN/NRN is not automatic', () => {
    expect(detectAutomatic(bag('X-Auto-Response-Suppress: DR, RN, NRN'), person)).toBeNull();
  });

  it('X-MS-Exchange-Inbox-Rules-Loop marks rule-generated mail', () => {
    const r = detectAutomatic(bag('X-MS-Exchange-Inbox-Rules-Loop: alice@example.test'), person);
    expect(r?.kind).toBe('auto-generated');
    expect(r?.reason).toMatch(/X-MS-Exchange-Inbox-Rules-Loop/);
  });

  describe('Precedence', () => {
    it('list → list', () => {
      const r = detectAutomatic(bag('Precedence: list'), person);
      expect(r).toEqual({ kind: 'list', reason: expect.stringMatching(/Precedence/) });
    });
    it.each(['bulk', 'junk', 'BULK'])('%s → bulk', (v) => {
      expect(detectAutomatic(bag(`Precedence: ${v}`), person)?.kind).toBe('bulk');
    });
  });

  it('List-Id → list', () => {
    const r = detectAutomatic(bag('List-Id: Ops <ops.lists.example.test>'), person);
    expect(r?.kind).toBe('list');
    expect(r?.reason).toMatch(/List-Id/);
  });

  it('List-Unsubscribe → list', () => {
    const r = detectAutomatic(bag('List-Unsubscribe: <mailto:leave@lists.example.test>'), person);
    expect(r?.kind).toBe('list');
    expect(r?.reason).toMatch(/List-Unsubscribe/);
  });

  it.each(['Return-Path: <>', 'Return-Path: < >', 'Return-Path:'])('%s → null-sender', (line) => {
    const r = detectAutomatic(bag(line), person);
    expect(r?.kind).toBe('null-sender');
    expect(r?.reason).toMatch(/Return-Path/);
  });

  it('a non-empty Return-Path is fine', () => {
    expect(detectAutomatic(bag('Return-Path: <bounces+x@example.test>'), person)).toBeNull();
  });

  it.each([
    'MAILER-DAEMON@mx.example.test',
    'mailer-daemon@example.test',
    'Mailer_Daemon@example.test',
    'postmaster@example.test',
    'PostMaster@example.test',
    'Mail Delivery System <MAILER-DAEMON@mx.example.test>',
    'MAILER-DAEMON',
  ])('sender %s → mailer-daemon', (from) => {
    const r = detectAutomatic(bag(), from);
    expect(r?.kind).toBe('mailer-daemon');
  });

  it('does not treat look-alikes as mailer-daemon', () => {
    expect(detectAutomatic(bag(), 'postmaster-jane@example.test')).toBeNull();
    expect(detectAutomatic(bag(), 'daemon@example.test')).toBeNull();
  });

  it.each([
    'noreply@example.test',
    'no-reply@example.test',
    'No_Reply@example.test',
    'do-not-reply@example.test',
    'donotreply@example.test',
    'noreply-alerts@example.test',
    'no-reply+abc@example.test',
  ])('no-reply sender %s → auto-generated', (from) => {
    const r = detectAutomatic(bag(), from);
    expect(r?.kind).toBe('auto-generated');
    expect(r?.reason).toMatch(/no-reply/);
  });

  it('does not treat addresses that merely contain "reply" as no-reply', () => {
    expect(detectAutomatic(bag(), 'reply@example.test')).toBeNull();
    expect(detectAutomatic(bag(), 'norepl@example.test')).toBeNull();
    expect(detectAutomatic(bag(), 'snoreply@example.test')).toBeNull();
  });

  describe('precedence of signals (most specific first)', () => {
    it('a Postfix bounce is mailer-daemon, not auto-reply or null-sender', () => {
      const h = bag(
        'Return-Path: <>',
        'Auto-Submitted: auto-replied',
        'From: MAILER-DAEMON@mx.example.test',
      );
      expect(detectAutomatic(h, 'MAILER-DAEMON@mx.example.test')?.kind).toBe('mailer-daemon');
    });

    it('a vacation reply with an empty Return-Path and Precedence bulk is an auto-reply', () => {
      const h = bag('Return-Path: <>', 'Precedence: bulk', 'Auto-Submitted: auto-replied');
      expect(detectAutomatic(h, person)?.kind).toBe('auto-reply');
    });

    it('Exchange OOF: X-Auto-Response-Suppress wins over List headers', () => {
      const h = bag('X-Auto-Response-Suppress: All', 'List-Id: <x.example.test>');
      expect(detectAutomatic(h, person)?.kind).toBe('auto-generated');
    });

    it('Precedence: list beats a no-reply sender', () => {
      expect(detectAutomatic(bag('Precedence: list'), 'noreply@example.test')?.kind).toBe('list');
    });

    it('a list with an empty Return-Path is reported as list', () => {
      expect(detectAutomatic(bag('List-Id: <a.b>', 'Return-Path: <>'), person)?.kind).toBe('list');
    });
  });
});
