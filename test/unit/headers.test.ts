import { describe, it, expect } from 'vitest';
import { first, headerBag } from '../../src/domain/headers.js';

describe('headerBag', () => {
  it('strips the field name and keeps the value', () => {
    const h = headerBag([{ key: 'subject', line: 'Subject: Printer on fire' }]);
    expect(h.get('subject')).toEqual(['Printer on fire']);
  });

  it('unfolds CRLF+WSP and LF+WSP continuation lines', () => {
    const h = headerBag([
      { key: 'references', line: 'References: <a@x>\r\n <b@x>\r\n\t<c@x>' },
      { key: 'x-long', line: 'X-Long: one\n two' },
    ]);
    expect(h.get('references')).toEqual(['<a@x> <b@x>\t<c@x>']);
    expect(h.get('x-long')).toEqual(['one two']);
  });

  it('keeps repeated headers in message order under a lower-case key', () => {
    const h = headerBag([
      { key: 'received', line: 'Received: from a' },
      { key: 'Received', line: 'RECEIVED: from b' },
      { key: 'received', line: 'Received: from c' },
    ]);
    expect(h.get('received')).toEqual(['from a', 'from b', 'from c']);
    expect(h.size).toBe(1);
  });

  it('keeps colons inside the value and tolerates no space after the colon', () => {
    const h = headerBag([
      { key: 'date', line: 'Date: Mon, 1 Jan 2024 10:00:00 +0000' },
      { key: 'return-path', line: 'Return-Path:<>' },
    ]);
    expect(h.get('date')).toEqual(['Mon, 1 Jan 2024 10:00:00 +0000']);
    expect(h.get('return-path')).toEqual(['<>']);
  });

  it('keeps empty values and does not decode RFC 2047 words', () => {
    const h = headerBag([
      { key: 'x-empty', line: 'X-Empty:' },
      { key: 'subject', line: 'Subject: =?UTF-8?B?w6k=?=' },
    ]);
    expect(h.get('x-empty')).toEqual(['']);
    expect(first(h, 'subject')).toBe('=?UTF-8?B?w6k=?=');
  });

  it('derives the key from the line when key is missing', () => {
    const h = headerBag([{ key: '', line: 'List-Id: <ops.example.test>' }]);
    expect(h.get('list-id')).toEqual(['<ops.example.test>']);
  });

  it('skips lines without any name', () => {
    const h = headerBag([{ key: '', line: 'garbage without colon' }]);
    expect(h.size).toBe(0);
  });
});

describe('first', () => {
  const h = headerBag([
    { key: 'received', line: 'Received: one' },
    { key: 'received', line: 'Received: two' },
  ]);

  it('returns the first value, name case-insensitive', () => {
    expect(first(h, 'received')).toBe('one');
    expect(first(h, 'Received')).toBe('one');
  });

  it('returns undefined for absent headers', () => {
    expect(first(h, 'subject')).toBeUndefined();
  });
});
