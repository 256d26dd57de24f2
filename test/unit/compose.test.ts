import { describe, expect, it } from 'vitest';
import { threadUnder } from '../../src/mail/compose.js';
import type { NewOutboxMessage } from '../../src/store/outbox.js';

const message = (over: Partial<NewOutboxMessage> = {}) =>
  ({ messageId: '<own@x>', references: [], ...over }) as NewOutboxMessage;

describe('threadUnder', () => {
  it('leaves the first mail of a thread alone', () => {
    const m = message();
    expect(threadUnder(m, '<own@x>')).toBe(m);
  });

  it('answers the first mail when the mail answers nothing else', () => {
    expect(threadUnder(message(), '<first@x>')).toMatchObject({
      inReplyTo: '<first@x>',
      references: ['<first@x>'],
    });
  });

  it('answers the agent’s command mail, with the first mail first in References', () => {
    const m = message({ inReplyTo: '<command@a>', references: ['<command@a>'] });
    expect(threadUnder(m, '<first@x>')).toMatchObject({
      inReplyTo: '<command@a>',
      references: ['<first@x>', '<command@a>'],
    });
  });

  it('keeps other references once, between the first mail and the one it answers', () => {
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
