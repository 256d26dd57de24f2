/** `incidesk dlq`: list and replay dead letters (jobs that failed for good). */
import { Command, CommanderError, Option } from 'commander';
import {
  QUEUE_NAMES,
  listDeadLetters,
  replayDeadLetters,
  type DeadLetter,
} from '../ops/dead-letters.js';
import type { QueueName } from '../queues.js';
import { EXIT } from './exit-codes.js';
import { alignedTable } from './format.js';
import { withQueues } from './queues.js';
import { NotFoundError, print, withStore } from './shared.js';

const when = (d: Date | null) => (d ? d.toISOString().replace('T', ' ').slice(0, 19) : '-');
const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** The table of `dlq list`: one dead letter per line, the reason on one line. */
export function deadLetterTable(rows: readonly DeadLetter[]): string {
  const header = ['QUEUE', 'JOB', 'CONCERNS', 'ATTEMPTS', 'FAILED AT', 'REASON'];
  const lines = rows.map((r) => [
    r.queue,
    r.id, // whole: it is what `dlq replay --id` takes
    cut(r.concerns, 24),
    `${r.attemptsMade}/${r.attempts}`,
    when(r.failedAt),
    cut(r.failedReason.replace(/\s+/g, ' '), 100),
  ]);
  return alignedTable(header, lines);
}

const queueOption = () =>
  new Option('--queue <queue>', 'only this queue').choices([...QUEUE_NAMES]);

export function registerDlqCommands(program: Command): void {
  const dlq = program
    .command('dlq')
    .description('dead letters: jobs that failed after all their attempts');

  dlq
    .command('list')
    .description('failed jobs with their reason, attempts and what they concern')
    .addOption(queueOption())
    .option('--limit <n>', 'at most this many per queue', (v) => Number.parseInt(v, 10), 1000)
    .option('--json', 'machine-readable output')
    .action(async (opts: { queue?: QueueName; limit: number; json?: boolean }) => {
      const rows = await withQueues((queues) =>
        listDeadLetters(queues, { queue: opts.queue, limit: opts.limit }),
      );
      print(
        opts.json
          ? JSON.stringify(rows, null, 2)
          : rows.length
            ? deadLetterTable(rows)
            : 'no dead letters',
      );
    });

  dlq
    .command('replay')
    .description('retry dead letters once their cause is fixed (idempotent: nothing runs twice)')
    .addOption(queueOption())
    .option('--id <jobId>', 'the job to retry')
    .option('--all', 'every dead letter (of --queue, or of every queue)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { queue?: QueueName; id?: string; all?: boolean; json?: boolean }) => {
      if (!opts.id === !opts.all)
        throw new CommanderError(EXIT.usage, 'incidesk.usage', 'give either --id <jobId> or --all');
      // The store is needed to make a failed outbound message sendable again.
      const result = await withStore(() =>
        withQueues((queues) =>
          replayDeadLetters(queues, { queue: opts.queue, id: opts.id, all: opts.all }),
        ),
      );
      if (opts.id && result.replayed.length === 0 && result.skipped.length === 0)
        throw new NotFoundError(`no job ${opts.id}${opts.queue ? ` in ${opts.queue}` : ''}`);
      if (opts.json) {
        print(JSON.stringify(result, null, 2));
        return;
      }
      for (const r of result.replayed) print(`replayed ${r.queue} ${r.id}`);
      for (const s of result.skipped) print(`skipped ${s.queue} ${s.id}: ${s.why}`);
      print(`${result.replayed.length} replayed, ${result.skipped.length} skipped`);
      if (opts.id && result.replayed.length === 0) process.exitCode = EXIT.failure;
    });
}
