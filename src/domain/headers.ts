/**
 * A minimal, read-only view of a message's header section.
 *
 * Keys are lower-case header names; values are the raw header values in the
 * order they appear in the message, unfolded (CRLF + WSP removed) with the
 * field name stripped. Values are NOT RFC 2047-decoded: callers that need a
 * decoded Subject or display name take it from mailparser's parsed fields.
 */
export type HeaderBag = ReadonlyMap<string, readonly string[]>;

/** Removes RFC 5322 folding: a line break immediately followed by whitespace. */
function unfold(raw: string): string {
  return raw.replace(/\r?\n(?=[ \t])/g, '').replace(/[\r\n]+$/, '');
}

/**
 * Builds a HeaderBag from mailparser's `headerLines` (`{ key, line }` where
 * `line` is the full raw "Name: value" line, possibly folded).
 */
export function headerBag(lines: readonly { key: string; line: string }[]): HeaderBag {
  const bag = new Map<string, string[]>();
  for (const { key, line } of lines) {
    const unfolded = unfold(line);
    const colon = unfolded.indexOf(':');
    const name = (key || (colon >= 0 ? unfolded.slice(0, colon) : '')).trim().toLowerCase();
    if (!name) continue;
    const value = colon >= 0 ? unfolded.slice(colon + 1).trim() : '';
    const values = bag.get(name);
    if (values) values.push(value);
    else bag.set(name, [value]);
  }
  return bag;
}

/** The first value of header `name` (case-insensitive), or undefined when absent. */
export function first(h: HeaderBag, name: string): string | undefined {
  return h.get(name.toLowerCase())?.[0];
}

/**
 * How a message's header section ends: with the empty line (the normal case), with the end of
 * the message after a complete field (legal, if rare: a message without a body), or cut off in
 * the middle of a line (a truncated message: the last line is neither a field nor a fold).
 */
export type HeaderSectionEnd = 'terminated' | 'unterminated' | 'truncated';

/** Longest part of a line kept for classifying it (a field name fits easily). */
const SCAN_LINE_MAX = 1000;
const FIELD_LINE = /^[\x21-\x39\x3b-\x7e]+[ \t]*:/;

/**
 * Finds the end of the header section in raw bytes fed chunk by chunk (so it can watch a
 * stream). Stops looking at the empty line; only the current and the last line are kept.
 */
export class HeaderSectionScanner {
  private found = false;
  private current = '';
  private currentLength = 0;
  private last: string | undefined;

  feed(chunk: Buffer): void {
    let pos = 0;
    while (!this.found && pos < chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      const end = nl < 0 ? chunk.length : nl;
      if (this.current.length < SCAN_LINE_MAX) {
        this.current += chunk.toString(
          'latin1',
          pos,
          Math.min(end, pos + SCAN_LINE_MAX - this.current.length),
        );
      }
      this.currentLength += end - pos;
      if (nl < 0) return;
      if (this.currentLength === 0 || (this.currentLength === 1 && this.current === '\r')) {
        this.found = true;
        return;
      }
      this.last = this.current.replace(/\r$/, '');
      this.current = '';
      this.currentLength = 0;
      pos = nl + 1;
    }
  }

  /** Call once the whole message has been fed. */
  result(): HeaderSectionEnd {
    if (this.found) return 'terminated';
    const last = this.currentLength > 0 ? this.current : this.last;
    if (last === undefined || /^[ \t]/.test(last) || FIELD_LINE.test(last)) return 'unterminated';
    return 'truncated';
  }
}
