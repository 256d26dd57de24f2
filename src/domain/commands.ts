/**
 * Commands an agent writes at the top of a reply, one per line, each starting with `#`:
 *
 *   #assign alice            #transfer network        #priority P1
 *   #impact high             #urgency low             #status pending
 *   #resolve cause: expired certificate; fix: renewed it
 *   #note checked the logs   (or `#note` alone: the following lines up to a blank line)
 *   #escalate customer is furious
 *   #merge INC-000042        (merge this incident into INC-000042)
 *   #parent INC-000042       (group this report under the outage incident INC-000042)
 *   #lesson what we learned  (or `#lesson` alone: the following lines up to a blank line)
 *   #action alice due 2026-12-01 add certificate expiry monitoring
 *   #action-done 42-1        (or just `#action-done 1` on incident 42)
 *   #known-error KE-0001     (link this incident to a known error)
 *   #done 2                  (playbook step 2 is done)
 *   #skip 3 no laptops involved  (playbook step 3 does not apply, and why)
 *   #approve 3fa9c1          (release a held protocol message; `#approve` alone: all held)
 *   #reject 3fa9c1           (drop a held protocol message; `#reject` alone: all held)
 *
 * Blank lines before and between commands are fine; the first other line ends the commands
 * and starts the body sent to the customer. `#` followed by a space, a digit or other
 * punctuation ("# 1 issue", "#1 priority for us") is text, not a command. Command words and
 * their keywords are case-insensitive. A bad or unknown command is reported and dropped
 * (never sent to the customer).
 */
import { LEVELS, type Level, type Priority } from '../plan/schema.js';
import { COMMAND_STATUSES, statusForCommand, type Status } from './lifecycle.js';
import { parseStepNumber } from './playbook.js';
import { parseApprovalRef } from './protocols.js';
import { parseDueDate } from './review.js';
import { parseKnownErrorId } from './known-errors.js';
import { parseIncidentId } from './tokens.js';

export type Command =
  | { kind: 'assign'; agent: string }
  | { kind: 'transfer'; group: string }
  | { kind: 'priority'; priority: Priority }
  | { kind: 'impact'; level: Level }
  | { kind: 'urgency'; level: Level }
  | { kind: 'status'; status: Status }
  | { kind: 'resolve'; cause?: string; fix?: string; workaround?: string }
  | { kind: 'note'; text: string }
  | { kind: 'escalate'; reason?: string }
  | { kind: 'merge'; into: number }
  | { kind: 'parent'; parent: number }
  | { kind: 'lesson'; text: string }
  | { kind: 'action'; owner: string; due: Date; text: string }
  | { kind: 'action-done'; item: string }
  | { kind: 'known-error'; id: number }
  | { kind: 'done'; step: number }
  | { kind: 'skip'; step: number; reason: string }
  | { kind: 'approve' | 'reject'; ref?: string };

export interface ParsedCommands {
  commands: Command[];
  /** One message per bad line, naming the line. */
  errors: string[];
  /** Everything from the first line that is not a command: what the customer gets. */
  body: string;
}

/** `#word rest`: a letter must follow the `#`. An optional colon after the word is allowed. */
const COMMAND_LINE = /^[ \t]*#(\p{L}[\p{L}\p{N}_-]*)(?:(?:[ \t]*:[ \t]*|[ \t]+)(.*))?$/u;
/** `#` + letter that is not followed by a proper separator ("#assign/x"): still a command attempt. */
const COMMAND_START = /^[ \t]*#\p{L}/u;
const ID = /^[a-z0-9][a-z0-9-]*$/;
const EMAIL = /^[^@\s<>]+@[^@\s<>]+$/;
const RESOLVE_KEY = /^(cause|fix|workaround)[ \t]*[:=][ \t]*(.*)$/is;
const RESOLVE_HELP = 'use "#resolve cause: …; fix: …" (or workaround: …)';

interface Line {
  text: string;
  start: number;
}

function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  const re = /\r\n|\n|\r/g;
  let start = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    lines.push({ text: text.slice(start, m.index), start });
    start = m.index + m[0].length;
  }
  lines.push({ text: text.slice(start), start });
  return lines;
}

/** A block command (`#note`, `#lesson`) given alone takes the following lines as its text. */
type Parsed = { command: Command } | { error: string } | { block: 'note' | 'lesson' };

function words(rest: string): string[] {
  return rest.split(/\s+/).filter((w) => w.length > 0);
}

function single(rest: string, what: string): string | { error: string } {
  const w = words(rest);
  if (w.length === 0) return { error: `${what} is missing` };
  if (w.length > 1) return { error: `expected only ${what}, got "${rest.trim()}"` };
  return w[0] as string;
}

function parseResolve(rest: string): Parsed {
  const fields: { cause?: string; fix?: string; workaround?: string } = {};
  let last: keyof typeof fields | undefined;
  for (const raw of rest.split(';')) {
    const part = raw.trim();
    if (!part) continue;
    const m = RESOLVE_KEY.exec(part);
    if (m) {
      const key = (m[1] as string).toLowerCase() as keyof typeof fields;
      if (fields[key] !== undefined) return { error: `${key} is given twice; ${RESOLVE_HELP}` };
      const value = (m[2] as string).trim();
      if (value) fields[key] = value;
      last = key;
    } else if (last !== undefined) {
      // "fix: renewed it; restarted nginx": a semicolon inside a value.
      fields[last] = fields[last] === undefined ? part : `${fields[last]}; ${part}`;
    } else {
      return { error: RESOLVE_HELP };
    }
  }
  return { command: { kind: 'resolve', ...fields } };
}

const ACTION_HELP = 'use "#action <owner email or agent id> due <YYYY-MM-DD> <what is to be done>"';

const SKIP_HELP = 'use "#skip <step number> <why it does not apply>"';

/** `#action alice due 2026-12-01 add expiry monitoring` */
function parseAction(rest: string): Parsed {
  const m = /^(\S+)\s+due\s+(\S+)\s+(.+)$/is.exec(rest.trim());
  if (!m) return { error: ACTION_HELP };
  const owner = (m[1] as string)
    .toLowerCase()
    .replace(/^<|>$/g, '')
    .replace(/^@(?=[^@]*$)/, '');
  if (!ID.test(owner) && !EMAIL.test(owner))
    return { error: `"${m[1]}" is not an agent id or email address; ${ACTION_HELP}` };
  const due = parseDueDate(m[2] as string);
  if (!due) return { error: `"${m[2]}" is not a date like 2026-12-01; ${ACTION_HELP}` };
  return { command: { kind: 'action', owner, due, text: (m[3] as string).trim() } };
}

function parseCommand(word: string, rest: string): Parsed {
  switch (word) {
    case 'assign': {
      const a = single(rest, 'an agent id or email address');
      if (typeof a !== 'string') return a;
      let agent = a.toLowerCase().replace(/^<|>$/g, '');
      if (agent.startsWith('@') && !agent.slice(1).includes('@')) agent = agent.slice(1);
      if (!ID.test(agent) && !EMAIL.test(agent))
        return { error: `"${a}" is not an agent id or email address` };
      return { command: { kind: 'assign', agent } };
    }
    case 'transfer': {
      const g = single(rest, 'a group id');
      if (typeof g !== 'string') return g;
      const group = g.toLowerCase();
      if (!ID.test(group)) return { error: `"${g}" is not a group id` };
      return { command: { kind: 'transfer', group } };
    }
    case 'priority': {
      const p = single(rest, 'a priority (P1 to P4)');
      if (typeof p !== 'string') return p;
      if (!/^p[1-4]$/i.test(p)) return { error: `priority must be P1, P2, P3 or P4, got "${p}"` };
      return { command: { kind: 'priority', priority: p.toUpperCase() as Priority } };
    }
    case 'impact':
    case 'urgency': {
      const l = single(rest, `a level (${LEVELS.join(', ')})`);
      if (typeof l !== 'string') return l;
      const level = l.toLowerCase();
      if (!(LEVELS as readonly string[]).includes(level)) {
        return { error: `${word} must be ${LEVELS.join(', ')}, got "${l}"` };
      }
      return { command: { kind: word, level: level as Level } };
    }
    case 'status': {
      if (!rest.trim()) return { error: 'a status is missing' };
      const status = statusForCommand(rest);
      if (!status) {
        return {
          error: `unknown status "${rest.trim()}" (use ${COMMAND_STATUSES.join(', ')}; to resolve, #resolve cause: …; fix: …)`,
        };
      }
      return { command: { kind: 'status', status } };
    }
    case 'resolve':
      return parseResolve(rest);
    case 'note': {
      const text = rest.trim();
      return text ? { command: { kind: 'note', text } } : { block: 'note' };
    }
    case 'lesson': {
      const text = rest.trim();
      return text ? { command: { kind: 'lesson', text } } : { block: 'lesson' };
    }
    case 'action':
      return parseAction(rest);
    case 'action-done': {
      const id = single(rest, 'an action item id like 42-1');
      if (typeof id !== 'string') return id;
      // Checked against the incident when executed (a bare `1` means this incident's item 1).
      if (!/^(?:(?:inc-?)?\d+-)?\d+$/i.test(id))
        return { error: `"${id}" is not an action item id like 42-1` };
      return { command: { kind: 'action-done', item: id } };
    }
    case 'done': {
      const s = rest.trim();
      if (!s) return { error: 'a playbook step number is missing' };
      const step = parseStepNumber(s);
      if (step === null) return { error: `"${s}" is not a playbook step number like 2` };
      return { command: { kind: 'done', step } };
    }
    case 'skip': {
      const m = /^(\S+)\s+(.+)$/s.exec(rest.trim());
      const step = m ? parseStepNumber(m[1] as string) : null;
      if (!m || step === null) return { error: SKIP_HELP };
      const reason = (m[2] as string).replace(/^reason\s*[:=]?\s*/i, '').trim();
      if (!reason) return { error: SKIP_HELP };
      return { command: { kind: 'skip', step, reason } };
    }
    case 'approve':
    case 'reject': {
      const w = words(rest);
      if (w.length === 0) return { command: { kind: word } };
      const ref = w.length === 1 ? parseApprovalRef(w[0] as string) : null;
      if (ref === null)
        return {
          error: `${word} takes the id of a held message (6 hex digits, as in the approval request) or nothing, got "${rest.trim()}"`,
        };
      return { command: { kind: word, ref } };
    }
    case 'parent': {
      const w = words(rest);
      const parent = w.length === 1 ? parseIncidentId(w[0] as string) : null;
      if (parent === null)
        return { error: `parent needs one incident id like INC-000042, got "${rest.trim()}"` };
      return { command: { kind: 'parent', parent } };
    }
    case 'escalate': {
      const reason = rest.trim();
      return { command: reason ? { kind: 'escalate', reason } : { kind: 'escalate' } };
    }
    case 'merge': {
      const w = words(rest);
      if (w.length === 2 && (w[0] as string).toLowerCase() === 'into') w.shift();
      const into = w.length === 1 ? parseIncidentId(w[0] as string) : null;
      if (into === null)
        return { error: `merge needs one incident id like INC-000042, got "${rest.trim()}"` };
      return { command: { kind: 'merge', into } };
    }
    case 'known-error': {
      const w = words(rest);
      const id = w.length === 1 ? parseKnownErrorId(w[0] as string) : null;
      if (id === null)
        return { error: `known-error needs one id like KE-0001, got "${rest.trim()}"` };
      return { command: { kind: 'known-error', id } };
    }
    default:
      return { error: `unknown command #${word}` };
  }
}

function isCommandLine(text: string): boolean {
  return COMMAND_START.test(text);
}

/** Splits an agent's (quote-stripped) reply into leading commands and the customer body. */
export function parseCommands(text: string): ParsedCommands {
  const lines = splitLines(text);
  const commands: Command[] = [];
  const errors: string[] = [];
  let i = 0;
  for (; i < lines.length; i++) {
    const line = (lines[i] as Line).text;
    if (line.trim() === '') continue;
    if (!isCommandLine(line)) break;
    const label = `line ${i + 1} "${line.trim()}"`;
    const m = COMMAND_LINE.exec(line);
    if (!m) {
      errors.push(`${label}: unknown command`);
      continue;
    }
    const word = (m[1] as string).toLowerCase();
    const parsed = parseCommand(word, m[2] ?? '');
    if ('command' in parsed) commands.push(parsed.command);
    else if ('error' in parsed) errors.push(`${label}: ${parsed.error}`);
    else {
      // `#note` / `#lesson` alone: the text is the following plain lines, up to a blank line.
      const noteLines: string[] = [];
      while (i + 1 < lines.length) {
        const next = (lines[i + 1] as Line).text;
        if (next.trim() === '' || isCommandLine(next)) break;
        noteLines.push(next.trimEnd());
        i++;
      }
      const note = noteLines.join('\n').trim();
      if (note) commands.push({ kind: parsed.block, text: note });
      else
        errors.push(
          `${label}: the ${parsed.block} is empty (write it after #${parsed.block} or on the lines below)`,
        );
    }
  }
  const body = i < lines.length ? text.slice((lines[i] as Line).start) : '';
  return { commands, errors, body };
}

export type CommandOutcome = 'Done' | 'Partly done' | 'Not done';

/**
 * What an agent's message achieved as a whole, from whether each of its parts (commands,
 * the reply to the customer) was done: "Done" only when every part was.
 */
export function commandOutcome(done: readonly boolean[]): CommandOutcome {
  if (done.length > 0 && done.every(Boolean)) return 'Done';
  return done.some(Boolean) ? 'Partly done' : 'Not done';
}
