/**
 * Plain-text tables for mail: each column as wide as its widest cell, numbers right-aligned
 * under right-aligned headings, text left-aligned. Widths count code points, so an accented
 * name does not shift its row.
 */
export type Align = 'left' | 'right';

const width = (s: string) => [...s].length;

/**
 * One line per row (the heading is just the first row), columns separated by `gap` spaces,
 * trailing spaces removed. A last left-aligned column is never padded, so a long subject
 * does not widen anything.
 */
export function alignColumns(
  rows: readonly (readonly string[])[],
  align: readonly Align[],
  gap = 2,
): string[] {
  const cols = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: cols }, (_, c) =>
    Math.max(0, ...rows.map((r) => width(r[c] ?? ''))),
  );
  return rows.map((r) =>
    widths
      .map((w, c) => {
        const cell = r[c] ?? '';
        const pad = ' '.repeat(w - width(cell));
        return align[c] === 'right' ? pad + cell : cell + pad;
      })
      .join(' '.repeat(gap))
      .trimEnd(),
  );
}
