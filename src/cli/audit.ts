/**
 * `incidesk audit verify` proves the audit chain intact (or names its first broken link);
 * `incidesk audit export` writes the entries of a date range, hashes included, as evidence
 * that can itself be verified (`incidesk audit verify --file export.jsonl`).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Option, type Command } from 'commander';
import {
  ChainVerifier,
  CSV_HEADER,
  csvLine,
  type AuditEntry,
  type ChainBreak,
} from '../domain/audit.js';
import { auditCursor, auditSeqRange, checkAuditChain, sealAudit } from '../store/audit.js';
import { EXIT } from './exit-codes.js';
import { CliError, print, withStore } from './shared.js';

export const describeBreak = (b: ChainBreak) =>
  `audit chain broken at seq ${b.seq}: ${
    {
      hash: 'the entry does not match its hash (it was changed)',
      'prev-hash':
        'the link to the previous entry does not match (an entry before it was changed, removed or replaced)',
      gap: 'entries are missing',
      order: 'entries are out of order or duplicated',
    }[b.problem]
  }; expected ${b.expected}, found ${b.found}`;

async function verifyStore(): Promise<string> {
  const check = await withStore(checkAuditChain);
  if (!check.intact) throw new CliError(EXIT.refused, describeBreak(check.broken));
  const head = check.head;
  return `audit chain intact: ${check.entries} entries${head ? `, head seq ${head.seq} ${head.hash}` : ''}`;
}

/** A JSON Lines export verifies on its own: its first entry's prevHash anchors the slice. */
async function verifyFile(file: string): Promise<string> {
  let v: ChainVerifier | undefined;
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as AuditEntry;
    v ??= new ChainVerifier(entry.seq > 1 ? { seq: entry.seq - 1, hash: entry.prevHash } : null);
    const broken = v.next(entry);
    if (broken) throw new CliError(EXIT.refused, describeBreak(broken));
  }
  return `export intact: ${v?.count ?? 0} entries${v?.head ? `, ending at seq ${v.head.seq} ${v.head.hash}` : ''}`;
}

/** "2026-11-01" is that whole day (UTC) for --to; a full timestamp is taken as given. */
function parseBound(value: string, end: boolean): string {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const t = Date.parse(dateOnly ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(t)) throw new CliError(EXIT.usage, `not a date: ${value}`);
  return new Date(t + (dateOnly && end ? 86_400_000 : 0)).toISOString();
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit trail');

  audit
    .command('verify')
    .description('check every link of the audit chain; exit 65 naming the first broken one')
    .option('--file <export.jsonl>', 'verify an export instead of the store')
    .action(async (opts: { file?: string }) => {
      print(opts.file ? await verifyFile(opts.file) : await verifyStore());
    });

  audit
    .command('export')
    .description('the audit entries of a date range, with their chain hashes, on stdout')
    .requiredOption('--from <date>', 'first day (UTC) or timestamp, inclusive')
    .requiredOption('--to <date>', 'last day (UTC, inclusive) or timestamp (exclusive)')
    .addOption(
      new Option('--format <format>', 'output format').choices(['jsonl', 'csv']).default('jsonl'),
    )
    .action(async (opts: { from: string; to: string; format: 'jsonl' | 'csv' }) => {
      const fromIso = parseBound(opts.from, false);
      const toIso = parseBound(opts.to, true);
      await withStore(async () => {
        // The seq run of the range, exported whole, so the slice is one unbroken chain even
        // when processes' clocks interleave a little.
        await sealAudit();
        const range = await auditSeqRange(fromIso, toIso);
        if (opts.format === 'csv') print(CSV_HEADER);
        if (!range) return;
        for await (const entry of auditCursor({ fromSeq: range.first, toSeq: range.last }))
          print(opts.format === 'csv' ? csvLine(entry) : JSON.stringify(entry));
      });
    });
}
