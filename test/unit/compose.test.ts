import { describe, expect, it } from 'vitest';
import { staffThreadRoot, threadUnder } from '../../src/mail/compose.js';
import { incidentFromMessageIds } from '../../src/domain/tokens.js';
import type { NewOutboxMessage } from '../../src/store/outbox.js';

const message = (over: Partial<NewOutboxMessage> = {}) =>
  ({ messageId: '<own@x>', references: [], ...over }) as NewOutboxMessage;

describe('staffThreadRoot', () => {
  const SECRET = 'unit-secret-0123456789';
  const root = (address: string, n = 7) =>
    staffThreadRoot(SECRET, n, address, 'example.test', { address, role: 'agent' });

  it('is one Message-ID per incident and address, whatever the address’s case', () => {
    expect(root('Ann@Example.test')).toBe(root('ann@example.test'));
    expect(root('ann@example.test')).toMatch(
      /^<INC-000007\.thread-[0-9a-f]{16}\..+@example\.test>$/,
    );
    expect(root('ben@example.test')).not.toBe(root('ann@example.test'));
    expect(root('ann@example.test', 8)).not.toBe(root('ann@example.test'));
  });

  it('carries a token that threads a reply naming only it to the incident', () => {
    expect(incidentFromMessageIds(SECRET, [root('ann@example.test')])).toBe(7);
  });
});

describe('threadUnder', () => {
  it('answers the root when the mail answers nothing else', () => {
    expect(threadUnder(message(), '<first@x>')).toMatchObject({
      inReplyTo: '<first@x>',
      references: ['<first@x>'],
    });
  });

  it('answers the agent’s command mail, with the root first in References', () => {
    const m = message({ inReplyTo: '<command@a>', references: ['<command@a>'] });
    expect(threadUnder(m, '<first@x>')).toMatchObject({
      inReplyTo: '<command@a>',
      references: ['<first@x>', '<command@a>'],
    });
  });

  it('keeps other references once, between the root and the mail it answers', () => {
    const m = message({
      inReplyTo: '<command@a>',
      references: ['<first@x>', '<older@x>', '<command@a>'],
    });
    expect(threadUnder(m, '<first@x>').references).toEqual([
      '<first@x>',
      '<older@x>',
      '<command@a>',
    ]);
  });
});
