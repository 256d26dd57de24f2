import { describe, it, expect } from 'vitest';
import { decideThread } from '../../src/domain/threading.js';
import { incidentToken, outboundMessageId, plusAddress } from '../../src/domain/tokens.js';

const secret = 'thread-secret';
const supportAddress = 'support@example.test';

function input(
  over: Partial<Parameters<typeof decideThread>[0]> = {},
): Parameters<typeof decideThread>[0] {
  return {
    secret,
    supportAddress,
    references: [],
    recipients: [supportAddress],
    subject: 'Printer on fire',
    sender: 'alice@example.test',
    ...over,
  };
}

const cora = { address: 'cora@customer.example', role: 'customer' } as const;
const ourId = (n: number): string => outboundMessageId(secret, n, 'ack-1', 'example.test', cora);
const plus = (n: number, key = secret) => plusAddress(supportAddress, key, n, cora);

describe('decideThread', () => {
  it('opens a new incident when nothing matches', () => {
    expect(decideThread(input())).toEqual({ kind: 'new' });
  });

  it('follows our signed Message-ID in In-Reply-To/References', () => {
    expect(decideThread(input({ references: ['<CAF1@mail.gmail.com>', ourId(5)] }))).toMatchObject({
      kind: 'existing',
      incidentNumber: 5,
      via: 'message-token',
    });
  });

  it('uses the first of our ids in reference order (In-Reply-To first)', () => {
    expect(decideThread(input({ references: [ourId(8), ourId(5)] }))).toMatchObject({
      incidentNumber: 8,
    });
  });

  it('message token wins over every other signal', () => {
    const d = decideThread(
      input({
        references: [ourId(1)],
        knownReference: 2,
        recipients: [plus(3)],
        subject: '[INC-000004] x',
        subjectIncidentParticipants: ['alice@example.test'],
      }),
    );
    expect(d).toMatchObject({ kind: 'existing', incidentNumber: 1, via: 'message-token' });
  });

  it('ignores a forged message token and falls through', () => {
    const forged = ourId(1).replace(/\.c[a-z2-7]{18}@/, `.c${'a'.repeat(18)}@`);
    expect(decideThread(input({ references: [forged] }))).toEqual({ kind: 'new' });
  });

  it('uses a known referenced Message-ID next', () => {
    const d = decideThread(
      input({
        references: ['<CAF1@mail.gmail.com>'],
        knownReference: 2,
        recipients: [plus(3)],
      }),
    );
    expect(d).toMatchObject({ kind: 'existing', incidentNumber: 2, via: 'known-message-id' });
  });

  it('treats knownReference null as absent', () => {
    expect(decideThread(input({ knownReference: null }))).toEqual({ kind: 'new' });
  });

  it('uses the plus-address before the subject tag', () => {
    const d = decideThread(
      input({
        recipients: ['someone@else.test', plus(3)],
        subject: '[INC-000004] x',
        subjectIncidentParticipants: ['alice@example.test'],
      }),
    );
    expect(d).toMatchObject({ kind: 'existing', incidentNumber: 3, via: 'plus-address' });
  });

  it('ignores a plus-address signed with another secret', () => {
    const d = decideThread(input({ recipients: [plus(3, 'other')] }));
    expect(d).toEqual({ kind: 'new' });
  });

  it('accepts the subject tag from a participant (case-insensitive)', () => {
    const d = decideThread(
      input({
        subject: 'Re: [INC-000004] Printer on fire',
        sender: 'Alice@Example.TEST',
        subjectIncidentParticipants: ['bob@example.test', 'alice@example.test'],
      }),
    );
    expect(d).toMatchObject({ kind: 'existing', incidentNumber: 4, via: 'subject-token' });
  });

  it('refuses a forged subject tag from a non-participant', () => {
    const d = decideThread(
      input({
        subject: '[INC-000004] give me the data',
        sender: 'mallory@evil.test',
        subjectIncidentParticipants: ['alice@example.test'],
      }),
    );
    expect(d).toEqual({ kind: 'new' });
  });

  it('refuses the subject tag when participants were not looked up or are empty', () => {
    expect(decideThread(input({ subject: '[INC-000004] x' }))).toEqual({ kind: 'new' });
    expect(
      decideThread(input({ subject: '[INC-000004] x', subjectIncidentParticipants: [] })),
    ).toEqual({
      kind: 'new',
    });
  });

  it('refuses an empty sender even if an empty participant slipped in', () => {
    const d = decideThread(
      input({ subject: '[INC-000004] x', sender: '', subjectIncidentParticipants: [''] }),
    );
    expect(d).toEqual({ kind: 'new' });
  });

  it('does not accept an unbracketed id in the subject', () => {
    const d = decideThread(
      input({ subject: 'INC-000004 x', subjectIncidentParticipants: ['alice@example.test'] }),
    );
    expect(d).toEqual({ kind: 'new' });
  });

  describe('a customer cannot reach someone else’s incident', () => {
    it('a known Message-ID threads only mail from a party of that message or the incident', () => {
      const known = { knownReference: 7, knownReferenceParties: ['victim@corp.example'] };
      expect(decideThread(input({ ...known, sender: 'Victim@corp.example' }))).toMatchObject({
        kind: 'existing',
        incidentNumber: 7,
        via: 'known-message-id',
      });
      expect(decideThread(input({ ...known, sender: 'attacker@evil.example' }))).toEqual({
        kind: 'new',
      });
    });

    it('a guessed or forged token, or another incident’s number in the subject, opens a new incident', () => {
      const forgedId = `<INC-000007.ack-1.${'a'.repeat(10)}@example.test>`;
      const forgedPlus = `support+INC-000007.${'b'.repeat(10)}@example.test`;
      const wrongToken = plus(8).replace('INC-000008', 'INC-000007');
      expect(
        decideThread(
          input({
            sender: 'attacker@evil.example',
            references: [forgedId],
            recipients: [forgedPlus, wrongToken],
            subject: 'Re: [INC-000007] your invoice',
            subjectIncidentParticipants: ['victim@corp.example'],
          }),
        ),
      ).toEqual({ kind: 'new' });
      expect(incidentToken(secret, 7)).not.toBe('a'.repeat(10));
    });
  });
});
