import { describe, expect, it } from 'vitest';
import { alignColumns } from '../../src/domain/text-table.js';

describe('alignColumns', () => {
  it('aligns headings like their columns: text left, numbers right', () => {
    expect(
      alignColumns(
        [
          ['', 'new', 'resolved', 'open'],
          ['P1', '12', '3', '140'],
          ['network', '0', '10', '2'],
        ],
        ['left', 'right', 'right', 'right'],
      ),
    ).toEqual([
      '         new  resolved  open',
      'P1        12         3   140',
      'network    0        10     2',
    ]);
  });

  it('counts code points, leaves the last text column unpadded, fills short rows', () => {
    const lines = alignColumns(
      [
        ['incident', 'who', 'subject'],
        ['INC-000001', 'Zoë', 'Printer on fire'],
        ['INC-000012', 'Al'],
      ],
      ['left', 'left', 'left'],
      1,
    );
    expect(lines).toEqual([
      'incident   who subject',
      'INC-000001 Zoë Printer on fire',
      'INC-000012 Al',
    ]);
  });

  it('no rows, no lines', () => {
    expect(alignColumns([], [])).toEqual([]);
  });
});
