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
