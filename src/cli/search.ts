/** `incidesk search`: free-text search over incidents and known errors; `--reindex` rebuilds. */
import type { Queue } from 'bullmq';
import cliProgress from 'cli-progress';
import { CommanderError, type Command } from 'commander';
import { rebuildIndex, search } from '../actions/search.js';
import type { IndexJob } from '../queues.js';
import type { SearchResult } from '../store/search-index.js';
import { EXIT } from './exit-codes.js';
import { print, withStore } from './shared.js';
import { alignedTable } from './format.js';
import { withQueues } from './queues.js';

export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new CommanderError(EXIT.usage, 'incidesk.badNumber', `not a positive number: ${v}`);
  return n;
}

/**
 * The `index` queue, for commands that change indexed text outside the workers (known
 * errors) or must hold the workers' index writes off (a rebuild). Fails fast without Redis.
 */
export const withIndexQueue = <T>(fn: (queue: Queue<IndexJob>) => Promise<T>): Promise<T> =>
  withQueues((queues) => fn(queues.index));

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function resultTable(results: readonly SearchResult[]): string {
  const header = ['ID', 'SCORE', 'STATUS', 'TITLE', 'CAUSE', 'FIX / WORKAROUND'];
  const rows = results.map((r) => {
    const res = r.record.resolution;
    const remedy = [res?.fix, res?.workaround].filter(Boolean).join(' / ');
    return [
      r.record.ref,
      r.score.toFixed(2),
      r.record.status,
      clip(r.record.title, 50),
      clip(res?.cause ?? '', 40),
      clip(remedy, 50),
    ];
  });
  return alignedTable(header, rows);
}

async function reindex(): Promise<string> {
  return withIndexQueue(async (queue) => {
    // Incremental index writes must not interleave with the rebuild: hold the queue, let the
    // job in flight finish, rebuild, then let the held jobs apply on top.
    await queue.pause();
    try {
      const deadline = Date.now() + 60_000;
      while ((await queue.getActiveCount()) > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 200));
      const bar = new cliProgress.SingleBar(
        {
          format: 'indexing [{bar}] {percentage}% {value}/{total} documents',
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      );
      const started = Date.now();
      const done = await withStore(() =>
        rebuildIndex({ start: (total) => bar.start(total, 0), tick: () => bar.increment() }),
      );
      bar.stop();
      return `reindexed ${done.docs} documents, ${done.terms} terms in ${((Date.now() - started) / 1000).toFixed(1)} s`;
    } finally {
      await queue.resume();
    }
  });
}

export function registerSearchCommands(program: Command): void {
  program
    .command('search [query]')
    .description('find incidents and known errors by subject, messages, cause, fix, workaround')
    .option('--limit <n>', 'how many results', positiveInt, 10)
    .option('--json', 'machine-readable output')
    .option('--reindex', 'rebuild the whole search index (needs MONGODB_URI and REDIS_URL)')
    .action(
      async (
        query: string | undefined,
        opts: { limit: number; json?: boolean; reindex?: boolean },
      ) => {
        if (opts.reindex) {
          print(await reindex());
          return;
        }
        if (!query?.trim())
          throw new CommanderError(
            EXIT.usage,
            'incidesk.badQuery',
            'search needs a query (or --reindex)',
          );
        const results = await withStore(() => search(query, opts.limit));
        if (opts.json) {
          print(
            JSON.stringify(
              results.map((r) => ({
                id: r.record.ref,
                kind: r.record.kind,
                score: Number(r.score.toFixed(4)),
                matchedTerms: r.matched,
                status: r.record.status,
                title: r.record.title,
                resolution: r.record.resolution,
              })),
              null,
              2,
            ),
          );
        } else print(results.length ? resultTable(results) : 'no matches');
      },
    );
}
