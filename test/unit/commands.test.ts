import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { commandOutcome, parseCommands, type Command } from '../../src/domain/commands.js';
import { COMMAND_STATUSES, statusForCommand } from '../../src/domain/lifecycle.js';

const one = (line: string): Command | undefined => {
  const r = parseCommands(line);
  expect(r.errors).toEqual([]);
  expect(r.commands).toHaveLength(1);
  return r.commands[0];
};
const errorOf = (line: string): string => {
  const r = parseCommands(line);
  expect(r.commands).toEqual([]);
  expect(r.errors).toHaveLength(1);
  return r.errors[0] as string;
};

describe('parseCommands: the command block', () => {
  it('no commands: everything is the body', () => {
    const text = 'Hello,\n\nwe are on it.\n';
    expect(parseCommands(text)).toEqual({ commands: [], errors: [], body: text });
  });

  it('commands first, then the body', () => {
    const r = parseCommands('#assign bob\n#priority P1\nHello,\nwe are on it.\n\n-- \nSupport');
    expect(r.commands).toEqual([
      { kind: 'assign', agent: 'bob' },
      { kind: 'priority', priority: 'P1' },
    ]);
    expect(r.errors).toEqual([]);
    expect(r.body).toBe('Hello,\nwe are on it.\n\n-- \nSupport');
  });

  it('blank lines before and between commands are allowed and not part of the body', () => {
    const r = parseCommands('\n\n#assign bob\n\n   \n#urgency low\n\nDear customer,\n\nthanks.');
    expect(r.commands).toEqual([
      { kind: 'assign', agent: 'bob' },
      { kind: 'urgency', level: 'low' },
    ]);
    expect(r.body).toBe('Dear customer,\n\nthanks.');
  });

  it('the first other line ends the block: later # lines are body text', () => {
    const r = parseCommands('#impact high\nSee below:\n#assign bob\n');
    expect(r.commands).toEqual([{ kind: 'impact', level: 'high' }]);
    expect(r.body).toBe('See below:\n#assign bob\n');
  });

  it('only commands: empty body', () => {
    expect(parseCommands('#escalate\n\n').body).toBe('');
    expect(parseCommands('').body).toBe('');
  });

  it('keeps the body exactly as written, CRLF and indentation included', () => {
    const r = parseCommands('#note checked\r\n\r\n  Indented first line\r\nsecond\r\n');
    expect(r.commands).toEqual([{ kind: 'note', text: 'checked' }]);
    expect(r.body).toBe('  Indented first line\r\nsecond\r\n');
  });

  it('"# 1 issue" and "#1 priority for us" are text, not commands', () => {
    expect(parseCommands('# 1 issue is fixed')).toEqual({
      commands: [],
      errors: [],
      body: '# 1 issue is fixed',
    });
    expect(parseCommands('#1 priority for us')).toEqual({
      commands: [],
      errors: [],
      body: '#1 priority for us',
    });
    expect(parseCommands('#assign bob\n#1 priority for us\n#urgency low').commands).toEqual([
      { kind: 'assign', agent: 'bob' },
    ]);
    expect(parseCommands('#\nhello').body).toBe('#\nhello');
    expect(parseCommands('#!/bin/sh').body).toBe('#!/bin/sh');
  });

  it('commands are case-insensitive', () => {
    expect(one('#ASSIGN Bob')).toEqual({ kind: 'assign', agent: 'bob' });
    expect(one('#Priority p2')).toEqual({ kind: 'priority', priority: 'P2' });
    expect(one('#IMPACT High')).toEqual({ kind: 'impact', level: 'high' });
    expect(one('#Status PENDING')).toEqual({ kind: 'status', status: 'pending-customer' });
  });

  it('tolerates leading spaces and a colon after the word', () => {
    expect(one('  #assign bob')).toEqual({ kind: 'assign', agent: 'bob' });
    expect(one('#priority: P3')).toEqual({ kind: 'priority', priority: 'P3' });
    expect(one('#transfer:network')).toEqual({ kind: 'transfer', group: 'network' });
  });

  it('unknown commands are reported naming the line, consumed, and do not end the block', () => {
    const r = parseCommands('#assign bob\n#frobnicate now\n#urgency high\nHello');
    expect(r.commands).toEqual([
      { kind: 'assign', agent: 'bob' },
      { kind: 'urgency', level: 'high' },
    ]);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toContain('line 2');
    expect(r.errors[0]).toContain('#frobnicate now');
    expect(r.errors[0]).toMatch(/unknown command/);
    expect(r.body).toBe('Hello');
  });

  it('a malformed command word is an error, not body text', () => {
    const r = parseCommands('#assign/bob\nHi');
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toContain('#assign/bob');
    expect(r.body).toBe('Hi');
  });

  it('numbers lines from 1 counting blank lines', () => {
    expect(parseCommands('\n\n#priority P7').errors[0]).toMatch(/^line 3\b/);
  });
});

describe('parseCommands: each command', () => {
  it('#assign: an agent id or email, lower-cased', () => {
    expect(one('#assign alice')).toEqual({ kind: 'assign', agent: 'alice' });
    expect(one('#assign Alice@Example.TEST')).toEqual({
      kind: 'assign',
      agent: 'alice@example.test',
    });
    expect(one('#assign <alice@example.test>')).toEqual({
      kind: 'assign',
      agent: 'alice@example.test',
    });
    expect(one('#assign @alice')).toEqual({ kind: 'assign', agent: 'alice' });
    expect(errorOf('#assign')).toMatch(/missing/);
    expect(errorOf('#assign alice bob')).toMatch(/line 1/);
    expect(errorOf('#assign al!ce')).toMatch(/not an agent/);
  });

  it('#transfer: a group id', () => {
    expect(one('#transfer Network')).toEqual({ kind: 'transfer', group: 'network' });
    expect(one('#transfer service-desk')).toEqual({ kind: 'transfer', group: 'service-desk' });
    expect(errorOf('#transfer')).toMatch(/missing/);
    expect(errorOf('#transfer net work')).toMatch(/line 1/);
    expect(errorOf('#transfer net_work')).toMatch(/not a group id/);
  });

  it('#priority: P1 to P4', () => {
    for (const p of ['P1', 'p1', 'P2', 'P3', 'p4']) {
      expect(one(`#priority ${p}`)).toEqual({ kind: 'priority', priority: p.toUpperCase() });
    }
    expect(errorOf('#priority P5')).toMatch(/P1, P2, P3 or P4/);
    expect(errorOf('#priority high')).toMatch(/P1/);
    expect(errorOf('#priority')).toMatch(/missing/);
  });

  it('#impact and #urgency: high, medium, low', () => {
    expect(one('#impact low')).toEqual({ kind: 'impact', level: 'low' });
    expect(one('#impact medium')).toEqual({ kind: 'impact', level: 'medium' });
    expect(one('#urgency HIGH')).toEqual({ kind: 'urgency', level: 'high' });
    expect(errorOf('#urgency critical')).toMatch(/urgency must be high, medium, low/);
    expect(errorOf('#impact')).toMatch(/missing/);
  });

  it('#status: command words', () => {
    expect(one('#status pending')).toEqual({ kind: 'status', status: 'pending-customer' });
    expect(one('#status waiting')).toEqual({ kind: 'status', status: 'pending-customer' });
    expect(one('#status open')).toEqual({ kind: 'status', status: 'in-progress' });
    expect(one('#status in progress')).toEqual({ kind: 'status', status: 'in-progress' });
    expect(one('#status resolved')).toEqual({ kind: 'status', status: 'resolved' });
    expect(one('#status closed')).toEqual({ kind: 'status', status: 'closed' });
    expect(errorOf('#status done')).toMatch(/unknown status "done"/);
    expect(errorOf('#status')).toMatch(/missing/);
  });

  it('#resolve: cause, fix, workaround in any order, case-insensitive keys', () => {
    expect(one('#resolve cause: expired certificate; fix: renewed')).toEqual({
      kind: 'resolve',
      cause: 'expired certificate',
      fix: 'renewed',
    });
    expect(one('#resolve Workaround: use the backup link ; CAUSE: fibre cut')).toEqual({
      kind: 'resolve',
      cause: 'fibre cut',
      workaround: 'use the backup link',
    });
    expect(one('#resolve fix: a; cause: b; workaround: c')).toEqual({
      kind: 'resolve',
      cause: 'b',
      fix: 'a',
      workaround: 'c',
    });
  });

  it('#resolve: a semicolon inside a value continues that value', () => {
    expect(one('#resolve cause: bad config; fix: restored it; restarted nginx')).toEqual({
      kind: 'resolve',
      cause: 'bad config',
      fix: 'restored it; restarted nginx',
    });
  });

  it('#resolve: text without keys is an error', () => {
    expect(errorOf('#resolve renewed the certificate')).toMatch(/cause: …; fix: …/);
  });

  it('#resolve: a key given twice is an error', () => {
    expect(errorOf('#resolve cause: a; cause: b')).toMatch(/cause is given twice/);
  });

  it('#resolve alone or with empty values yields what was given (checked by resolutionProblems)', () => {
    expect(one('#resolve')).toEqual({ kind: 'resolve' });
    expect(one('#resolve cause: ; fix: renewed')).toEqual({ kind: 'resolve', fix: 'renewed' });
  });

  it('#note: the rest of the line', () => {
    expect(one('#note  checked the firewall logs ')).toEqual({
      kind: 'note',
      text: 'checked the firewall logs',
    });
  });

  it('#note alone: the following lines up to a blank line, not sent to the customer', () => {
    const r = parseCommands(
      '#note\nInternal: customer is on the old plan.\nDo not mention the refund.\n\nHello Anna,\nfixed.',
    );
    expect(r.commands).toEqual([
      { kind: 'note', text: 'Internal: customer is on the old plan.\nDo not mention the refund.' },
    ]);
    expect(r.body).toBe('Hello Anna,\nfixed.');
  });

  it('#note alone: a command line ends the note and is parsed', () => {
    const r = parseCommands('#note\nline one\n# 1 thing\n#assign bob\nBody');
    expect(r.commands).toEqual([
      { kind: 'note', text: 'line one\n# 1 thing' },
      { kind: 'assign', agent: 'bob' },
    ]);
    expect(r.body).toBe('Body');
  });

  it('#note alone at the end or before a blank line is an error', () => {
    expect(errorOf('#note')).toMatch(/note is empty/);
    const r = parseCommands('#note\n\nHello');
    expect(r.errors).toHaveLength(1);
    expect(r.body).toBe('Hello');
  });

  it('#escalate with and without a reason', () => {
    expect(one('#escalate')).toEqual({ kind: 'escalate' });
    expect(one('#escalate customer threatens to cancel')).toEqual({
      kind: 'escalate',
      reason: 'customer threatens to cancel',
    });
  });

  it('#merge: into another incident', () => {
    expect(one('#merge INC-000042')).toEqual({ kind: 'merge', into: 42 });
    expect(one('#merge inc-7')).toEqual({ kind: 'merge', into: 7 });
    expect(one('#merge into INC-000042')).toEqual({ kind: 'merge', into: 42 });
    expect(errorOf('#merge 42')).toMatch(/INC-000042/);
    expect(errorOf('#merge')).toMatch(/INC-000042/);
    expect(errorOf('#merge INC-1 INC-2')).toMatch(/line 1/);
  });
});

describe('parseCommands: a realistic reply', () => {
  it('collects every command, every error, and the body', () => {
    const text = [
      '#assign erik',
      '#priority p2',
      '#note',
      'VPN concentrator 2 shows packet loss.',
      '',
      '#status waiting',
      '#resolve it works now',
      '',
      'Hi Anna,',
      '',
      'could you try reconnecting and tell us whether it works?',
      '#1 tip: restart the client first.',
    ].join('\n');
    const r = parseCommands(text);
    expect(r.commands).toEqual([
      { kind: 'assign', agent: 'erik' },
      { kind: 'priority', priority: 'P2' },
      { kind: 'note', text: 'VPN concentrator 2 shows packet loss.' },
      { kind: 'status', status: 'pending-customer' },
    ]);
    expect(r.errors).toEqual([
      expect.stringMatching(/^line 7 "#resolve it works now": .*cause: …; fix: …/),
    ]);
    expect(r.body).toBe(
      'Hi Anna,\n\ncould you try reconnecting and tell us whether it works?\n#1 tip: restart the client first.',
    );
  });
});

describe('parseCommands: #known-error', () => {
  it('links to a known error by id', () => {
    expect(one('#known-error KE-0001')).toEqual({ kind: 'known-error', id: 1 });
    expect(one('#Known-Error: ke-42')).toEqual({ kind: 'known-error', id: 42 });
  });
  it('needs exactly one valid id', () => {
    expect(errorOf('#known-error')).toMatch(/known-error needs one id like KE-0001/);
    expect(errorOf('#known-error KE-1 KE-2')).toMatch(/needs one id/);
    expect(errorOf('#known-error INC-000001')).toMatch(/needs one id/);
  });
  it('is a command line, not body text', () => {
    const r = parseCommands('#known-error KE-0003\nHello, this is known.');
    expect(r.commands).toEqual([{ kind: 'known-error', id: 3 }]);
    expect(r.body).toBe('Hello, this is known.');
  });
});

describe('#status suggestions', () => {
  it('suggest exactly the statuses the cheat sheet lists', () => {
    const error = errorOf('#status flying');
    expect(error).toBe(
      'line 1 "#status flying": unknown status "flying" (use pending, in-progress, closed; to resolve, #resolve cause: …; fix: …)',
    );
    // The cheat sheet in the assignment mail lists the same three.
    const sheet = readFileSync(
      new URL('../../templates/assignment.text.hbs', import.meta.url),
      'utf8',
    );
    expect(sheet).toContain(`#status ${COMMAND_STATUSES.join('|')}`);
    for (const s of COMMAND_STATUSES) expect(statusForCommand(s)).not.toBeNull();
  });
});

describe('commandOutcome', () => {
  it('says Done only when every part was done', () => {
    expect(commandOutcome([true])).toBe('Done');
    expect(commandOutcome([true, true, true])).toBe('Done');
    expect(commandOutcome([true, false])).toBe('Partly done');
    expect(commandOutcome([false, true, true])).toBe('Partly done');
    expect(commandOutcome([false])).toBe('Not done');
    expect(commandOutcome([false, false])).toBe('Not done');
    expect(commandOutcome([])).toBe('Not done');
  });
});

describe('parseCommands: playbook steps', () => {
  it('#done <step> and #skip <step> <reason>', () => {
    expect(one('#done 2')).toEqual({ kind: 'done', step: 2 });
    expect(one('#DONE step 3')).toEqual({ kind: 'done', step: 3 });
    expect(one('#skip 3 no laptop involved, the report came from a kiosk')).toEqual({
      kind: 'skip',
      step: 3,
      reason: 'no laptop involved, the report came from a kiosk',
    });
    expect(one('#skip 4 reason: not applicable')).toEqual({
      kind: 'skip',
      step: 4,
      reason: 'not applicable',
    });
  });

  it('refuses a missing or bad step number, and a skip without a reason', () => {
    expect(errorOf('#done')).toMatch(/a playbook step number is missing/);
    expect(errorOf('#done two')).toMatch(/"two" is not a playbook step number/);
    expect(errorOf('#done 2 3')).toMatch(/"2 3" is not a playbook step number/);
    expect(errorOf('#skip 3')).toMatch(/use "#skip <step number> <why it does not apply>"/);
    expect(errorOf('#skip 3 reason:')).toMatch(/use "#skip <step number>/);
    expect(errorOf('#skip x because')).toMatch(/use "#skip <step number>/);
  });
});

describe('parseCommands: protocol approval', () => {
  it('#approve and #reject, alone or with the id of a held message', () => {
    expect(one('#approve')).toEqual({ kind: 'approve' });
    expect(one('#approve 3FA9C1')).toEqual({ kind: 'approve', ref: '3fa9c1' });
    expect(one('#reject #3fa9c1')).toEqual({ kind: 'reject', ref: '3fa9c1' });
  });
  it('refuses anything else after them', () => {
    expect(errorOf('#approve all of them')).toMatch(/approve takes the id of a held message/);
    expect(errorOf('#reject 12')).toMatch(/reject takes the id of a held message/);
  });
});
