import { describe, expect, it } from 'vitest';
import { OPENING_TEXT_IN_JOB_MAX_CHARS } from '../../src/constants.js';
import { openingFacts } from '../../src/queues.js';

describe('the opening facts a triage job carries', () => {
  it('carries the text and attachment ids of a message short enough for Redis', () => {
    expect(openingFacts('The shop is down.', ['a1', 'a2'])).toEqual({
      text: 'The shop is down.',
      attachmentIds: ['a1', 'a2'],
    });
    expect(openingFacts(undefined, [])).toEqual({ text: '', attachmentIds: [] });
    const longest = 'x'.repeat(OPENING_TEXT_IN_JOB_MAX_CHARS);
    expect(openingFacts(longest, [])?.text).toBe(longest);
  });

  it('carries nothing for a longer text, so triage reads the whole message instead of a cut one', () => {
    expect(openingFacts('x'.repeat(OPENING_TEXT_IN_JOB_MAX_CHARS + 1), ['a1'])).toBeUndefined();
  });
});
