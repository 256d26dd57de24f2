import { describe, expect, it } from 'vitest';
import { customerName, intakeNotes } from '../../src/domain/intake.js';
import type { SenderChoice } from '../../src/domain/sender.js';

const at = new Date('2026-03-02T10:00:00Z');
const fromFirst: SenderChoice = {
  address: 'ann@example.org',
  source: 'from',
  index: 0,
  reason: 'From',
};

describe('customerName', () => {
  const from = [{ address: 'robot@example.org' }, { address: 'ann@example.org', name: 'Ann' }];
  const replyTo = [{ address: 'bob@example.org', name: 'Bob' }];

  it('names the chosen address, from From or Reply-To', () => {
    expect(customerName(from, replyTo, fromFirst)).toBe('Ann');
    expect(
      customerName(from, replyTo, { ...fromFirst, address: 'bob@example.org', source: 'reply-to' }),
    ).toBe('Bob');
  });
  it('gives no name to an address that came from elsewhere', () => {
    expect(
      customerName(from, replyTo, {
        ...fromFirst,
        address: 'x@example.org',
        source: 'return-path',
      }),
    ).toBeUndefined();
  });
  it('takes the first named sender when there is no usable address', () => {
    expect(customerName(from, replyTo, null)).toBe('Ann');
  });
});

describe('intakeNotes', () => {
  it('has nothing to say about an ordinary message', () => {
    expect(intakeNotes('r1', at, fromFirst, [])).toEqual([]);
  });
  it('notes a sender taken from a later From or another header', () => {
    const later = { ...fromFirst, index: 1, reason: 'the first From is not an address' };
    expect(intakeNotes('r1', at, later, [])).toEqual([
      {
        _id: 'sender-r1',
        at,
        type: 'event',
        event: 'sender-fallback',
        rawId: 'r1',
        detail: { address: 'ann@example.org', source: 'from', reason: later.reason },
      },
    ]);
  });
  it('notes a message with no reply address at all', () => {
    const [note] = intakeNotes('r1', at, null, []);
    expect(note).toMatchObject({ _id: 'sender-r1', event: 'no-reply-address' });
  });
  it('keeps the bytes of headers read from a legacy charset', () => {
    const raw = Buffer.from([0x93, 0xfa, 0x96, 0x7b]);
    const notes = intakeNotes('r1', at, fromFirst, [
      { field: 'subject', charset: 'shift_jis', via: 'detected', text: '日本', raw },
    ]);
    expect(notes).toEqual([
      {
        _id: 'legacy-charset-r1',
        at,
        type: 'event',
        event: 'legacy-charset',
        rawId: 'r1',
        detail: {
          headers: [
            {
              field: 'subject',
              charset: 'shift_jis',
              via: 'detected',
              text: '日本',
              raw: 'k/qWew==',
            },
          ],
        },
      },
    ]);
  });
});
