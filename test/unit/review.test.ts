import { describe, expect, it } from 'vitest';
import { parseCommands } from '../../src/domain/commands.js';
import {
  groupingProblem,
  mergeReviewProblem,
  reportersToNotify,
  type LinkSide,
} from '../../src/domain/links.js';
import { reviewProblems } from '../../src/domain/lifecycle.js';
import { parseActionItemId, parseDueDate, reminderDue } from '../../src/domain/review.js';

const DAY = 86_400_000;

describe('reviewProblems: the post-incident review gate on closing', () => {
  const base = { requiredFor: ['P1', 'P2'], lessons: [], actions: [] };
  const action = { owner: 'a@b.example', dueAt: new Date('2026-12-01T23:59:59Z'), text: 'x' };
  it('does not apply to priorities that need no review, or to unprioritised incidents', () => {
    expect(reviewProblems({ ...base, priority: 'P3' })).toEqual([]);
    expect(reviewProblems({ ...base, priority: null })).toEqual([]);
    expect(reviewProblems({ ...base, priority: 'P1', requiredFor: [] })).toEqual([]);
  });
  it('lists everything a P1 or P2 lacks', () => {
    const p = reviewProblems({ ...base, priority: 'P1' });
    expect(p).toHaveLength(2);
    expect(p[0]).toMatch(/P1 needs lessons learned \(#lesson/);
    expect(p[1]).toMatch(/action item with an owner and a due date \(#action/);
    expect(reviewProblems({ ...base, priority: 'P2', lessons: [{ text: 'l' }] })).toEqual([
      expect.stringMatching(/action item/),
    ]);
    expect(reviewProblems({ ...base, priority: 'P2', actions: [action] })).toEqual([
      expect.stringMatching(/lessons/),
    ]);
  });
  it('does not count blank lessons or action items without an owner or a due date', () => {
    expect(
      reviewProblems({
        ...base,
        priority: 'P1',
        lessons: [{ text: '  ' }],
        actions: [
          { ...action, owner: '' },
          { ...action, dueAt: null },
        ],
      }),
    ).toHaveLength(2);
  });
  it('passes with a lesson and a complete action item', () => {
    expect(
      reviewProblems({ ...base, priority: 'P1', lessons: [{ text: 'l' }], actions: [action] }),
    ).toEqual([]);
  });
});

describe('due dates, action item ids, reminders', () => {
  it('a due date is the end of that UTC day; impossible dates are refused', () => {
    expect(parseDueDate('2026-12-01')?.toISOString()).toBe('2026-12-01T23:59:59.999Z');
    expect(parseDueDate('2026-02-30')).toBeNull();
    expect(parseDueDate('1.12.2026')).toBeNull();
    expect(parseDueDate('2026-13-01')).toBeNull();
  });
  it('action item ids name the incident, or take it from the context', () => {
    expect(parseActionItemId('42-1')).toBe('42-1');
    expect(parseActionItemId('INC-000042-3')).toBe('42-3');
    expect(parseActionItemId('2', 42)).toBe('42-2');
    expect(parseActionItemId('2')).toBeNull();
    expect(parseActionItemId('42-0')).toBeNull();
    expect(parseActionItemId('x-1')).toBeNull();
  });
  it('reminds from remindBefore ahead of the due date, then while overdue, at most daily', () => {
    const dueAt = new Date('2026-12-01T23:59:59.999Z');
    const at = (iso: string) => new Date(iso);
    expect(reminderDue({ dueAt }, at('2026-11-29T12:00:00Z'), DAY)).toBeNull();
    expect(reminderDue({ dueAt }, at('2026-12-01T08:00:00Z'), DAY)).toBe('due-soon');
    expect(reminderDue({ dueAt }, at('2026-12-02T00:00:00Z'), DAY)).toBe('overdue');
    expect(
      reminderDue(
        { dueAt, lastRemindedAt: at('2026-12-02T00:10:00Z') },
        at('2026-12-02T23:00:00Z'),
        DAY,
      ),
    ).toBeNull();
    expect(
      reminderDue(
        { dueAt, lastRemindedAt: at('2026-12-02T23:00:00Z') },
        at('2026-12-03T00:01:00Z'),
        DAY,
      ),
    ).toBe('overdue');
    expect(
      reminderDue({ dueAt, doneAt: at('2026-12-01T00:00:00Z') }, at('2026-12-05T00:00:00Z'), DAY),
    ).toBeNull();
  });
});

describe('review and grouping commands', () => {
  it('parses #lesson inline and as a block', () => {
    expect(parseCommands('#lesson monitor certificate expiry\n\nHello').commands).toEqual([
      { kind: 'lesson', text: 'monitor certificate expiry' },
    ]);
    const block = parseCommands('#lesson\nwe had no alert\nfor expiry\n\nHello');
    expect(block.commands).toEqual([{ kind: 'lesson', text: 'we had no alert\nfor expiry' }]);
    expect(block.body).toBe('Hello');
    expect(parseCommands('#lesson\n\nHello').errors[0]).toMatch(/the lesson is empty/);
  });
  it('parses #action with an owner, a due date and a text', () => {
    expect(parseCommands('#action alice due 2026-12-01 add expiry monitoring').commands).toEqual([
      {
        kind: 'action',
        owner: 'alice',
        due: new Date('2026-12-01T23:59:59.999Z'),
        text: 'add expiry monitoring',
      },
    ]);
    expect(
      parseCommands('#Action <Ops@Example.COM> DUE 2026-12-01 rotate keys').commands[0],
    ).toMatchObject({
      owner: 'ops@example.com',
      text: 'rotate keys',
    });
  });
  it('reports bad #action lines and explains the form', () => {
    expect(parseCommands('#action alice 2026-12-01 x').errors[0]).toMatch(/use "#action <owner/);
    expect(parseCommands('#action alice due 2026-12-01').errors[0]).toMatch(/use "#action/);
    expect(parseCommands('#action alice due tomorrow fix it').errors[0]).toMatch(
      /"tomorrow" is not a date/,
    );
    expect(parseCommands('#action a/b due 2026-12-01 fix').errors[0]).toMatch(
      /not an agent id or email/,
    );
  });
  it('parses #action-done and #parent', () => {
    expect(parseCommands('#action-done 42-1\n#action-done 2').commands).toEqual([
      { kind: 'action-done', item: '42-1' },
      { kind: 'action-done', item: '2' },
    ]);
    expect(parseCommands('#action-done soon').errors[0]).toMatch(/not an action item id/);
    expect(parseCommands('#parent INC-000007').commands).toEqual([{ kind: 'parent', parent: 7 }]);
    expect(parseCommands('#parent 7').errors[0]).toMatch(/parent needs one incident id/);
  });
});

describe('outage grouping rules', () => {
  const open = (number: number, more: Partial<LinkSide> = {}): LinkSide => ({
    number,
    status: 'assigned',
    ...more,
  });
  it('allows an open report under an open parent, and regrouping under the same parent', () => {
    expect(groupingProblem(open(2), open(1))).toBeNull();
    expect(groupingProblem(open(2, { parent: 1 }), open(1, { children: [2] }))).toBeNull();
  });
  it('keeps grouping one level deep and refuses closed or merged incidents', () => {
    expect(groupingProblem(open(1), open(1))).toMatch(/own parent/);
    expect(groupingProblem(open(3), open(2, { parent: 1 }))).toMatch(
      /itself grouped under INC-000001/,
    );
    expect(groupingProblem(open(1, { children: [2] }), open(3))).toMatch(/parent of 1 incident/);
    expect(groupingProblem(open(2, { parent: 5 }), open(1))).toMatch(
      /already grouped under INC-000005/,
    );
    expect(groupingProblem(open(2), open(1, { status: 'resolved' }))).toMatch(
      /INC-000001 is resolved/,
    );
    expect(groupingProblem(open(2, { status: 'closed' }), open(1))).toMatch(/INC-000002 is closed/);
    expect(groupingProblem(open(2, { mergedInto: 9 }), open(1))).toMatch(/merged into INC-000009/);
  });
  it('tells each reporter once, about their first incident', () => {
    expect(
      reportersToNotify([
        { number: 1, address: 'a@x' },
        { number: 3, address: 'b@y' },
        { number: 4, address: 'A@X' },
        { number: 5, address: 'b@y' },
        { number: 6, address: 'c@z' },
      ]).map((r) => r.number),
    ).toEqual([1, 3, 6]);
  });
});

describe('mergeReviewProblem', () => {
  const inc = (number: number, priority?: string) => ({ number, priority });
  const required = ['P1', 'P2'];

  it('lets an incident that needs no review merge anywhere', () => {
    expect(mergeReviewProblem(inc(2, 'P3'), inc(1, 'P4'), required)).toBeNull();
    expect(mergeReviewProblem(inc(2, 'P4'), inc(1, 'P1'), required)).toBeNull();
    expect(mergeReviewProblem(inc(2), inc(1, 'P1'), required)).toBeNull();
  });

  it('lets a reviewed priority merge into another reviewed priority', () => {
    expect(mergeReviewProblem(inc(2, 'P1'), inc(1, 'P2'), required)).toBeNull();
    expect(mergeReviewProblem(inc(2, 'P2'), inc(1, 'P1'), required)).toBeNull();
  });

  it('refuses to let a merge skip a review, and says which way round works', () => {
    expect(mergeReviewProblem(inc(2, 'P1'), inc(1, 'P3'), required)).toBe(
      "INC-000002 is P1 and needs a post-incident review, which INC-000001 (P3) does not: merge INC-000001 into INC-000002, or raise INC-000001's priority first",
    );
    expect(mergeReviewProblem(inc(2, 'P2'), inc(1), required)).toMatch(/\(no priority\)/);
    expect(mergeReviewProblem(inc(2, 'P3'), inc(1, 'P4'), ['P3'])).toMatch(/INC-000002 is P3/);
  });
});
