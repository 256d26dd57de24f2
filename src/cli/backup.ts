/** `incidesk backup` and `incidesk restore`. */
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CommanderError, type Command } from 'commander';
import { ArchiveError } from '../backup/archive.js';
import {
  backupDatabase,
  NotEmptyError,
  restoreDatabase,
  RestoreMismatchError,
} from '../backup/backup.js';
import { db } from '../store/db.js';
import { EXIT } from './exit-codes.js';
import { cliProgressReporter } from './progress.js';
import { NotFoundError, print, withStore } from './shared.js';

const stamp = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

/** Map the backup errors to their exit codes (CommanderError codes `incidesk.*` are printed). */
function asExit(err: unknown): never {
  if (err instanceof ArchiveError || err instanceof RestoreMismatchError)
    throw new CommanderError(EXIT.refused, 'incidesk.archive', err.message);
  if (err instanceof NotEmptyError)
    throw new CommanderError(EXIT.cantCreate, 'incidesk.notEmpty', err.message);
  throw err;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description('write the whole database to one verified archive (.tar.gz), online')
    .option('--out <file>', 'archive to write (default: incidesk-backup-<time>.tar.gz)')
    .option('--json', 'machine-readable summary')
    .option('--verbose', 'also list every collection with its count and checksum')
    .action(async (opts: { out?: string; json?: boolean; verbose?: boolean }) => {
      const out = resolve(opts.out ?? `incidesk-backup-${stamp(new Date())}.tar.gz`);
      const result = await withStore(() => backupDatabase(db(), out, cliProgressReporter()));
      if (opts.json) {
        print(
          JSON.stringify({
            ...result,
            manifest: undefined,
            collections: result.manifest.collections,
          }),
        );
        return;
      }
      const docs = result.manifest.collections.reduce((s, c) => s + c.count, 0);
      print(
        `backup ${out}: ${result.manifest.collections.length} collections, ${docs} documents, ${result.bytes} bytes, ${seconds(result.ms)}; sha256 ${result.sha256} (also in ${out}.sha256)`,
      );
      if (opts.verbose)
        for (const c of result.manifest.collections)
          print(
            `  ${c.name.padEnd(28)} ${String(c.count).padStart(9)}  ${c.contentSha256.slice(0, 16)}`,
          );
    });

  program
    .command('restore <file>')
    .description('verify an archive, then restore it into an empty database')
    .option('--verify-only', 'check every checksum and count, change nothing')
    .option('--json', 'machine-readable summary')
    .option('--verbose', 'also list every collection with its count')
    .action(
      async (file: string, opts: { verifyOnly?: boolean; json?: boolean; verbose?: boolean }) => {
        const path = resolve(file);
        await access(path).catch(() => {
          throw new NotFoundError(`no such file: ${file}`);
        });
        const result = await withStore(() =>
          restoreDatabase(db(), path, {
            verifyOnly: opts.verifyOnly,
            progress: cliProgressReporter(),
          }),
        ).catch(asExit);
        if (opts.json) {
          print(
            JSON.stringify({
              ...result,
              manifest: undefined,
              createdAt: result.manifest.createdAt,
            }),
          );
          return;
        }
        print(
          result.restored
            ? `restored ${result.documents} documents in ${result.manifest.collections.length} collections from ${file} (backup of ${result.manifest.createdAt}); verify ${seconds(result.ms.verify)}, restore ${seconds(result.ms.restore)}, recheck ${seconds(result.ms.recheck)}. Start incidesk: its recovery sweep re-queues unfinished work.`
            : `archive ok: ${result.documents} documents in ${result.manifest.collections.length} collections, every checksum matches (backup of ${result.manifest.createdAt})`,
        );
        if (opts.verbose)
          for (const c of result.manifest.collections)
            print(`  ${c.name.padEnd(28)} ${String(c.count).padStart(9)}`);
      },
    );
}
