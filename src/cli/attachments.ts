/**
 * `incidesk attachments get INC-… [N] -o DIR`: an incident's files (customers' and agents'),
 * byte for byte, for those too large to travel with agents' mail. Numbers are the ones
 * `incidents show` and the mails list.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { describeAttachment, uniqueFileNames } from '../domain/attachments.js';
import { parseIncidentArgument } from '../domain/tokens.js';
import { findIncidentRecord } from '../store/archive.js';
import { numberedAttachments } from '../store/attachments.js';
import { openBlob } from '../store/blobs.js';
import { EXIT } from './exit-codes.js';
import { CliError, NotFoundError, print, withStore } from './shared.js';

export function registerAttachmentCommands(program: Command) {
  program
    .command('attachments')
    .description("an incident's files")
    .command('get <id> [n]')
    .description('write the incident’s files (or file number n) into a directory')
    .option('-o, --output <dir>', 'directory to write into (created if missing)', '.')
    .action(async (id: string, n: string | undefined, opts: { output: string }) => {
      const number = parseIncidentArgument(id);
      if (number === null) throw new CliError(EXIT.usage, `not an incident id: ${id}`);
      const wanted = n === undefined ? null : Number(n);
      if (wanted !== null && !(Number.isInteger(wanted) && wanted >= 1))
        throw new CliError(EXIT.usage, `not an attachment number: ${n} (1, 2, …)`);
      await withStore(async () => {
        const record = await findIncidentRecord(number);
        if (!record) throw new NotFoundError(`no incident ${id}`);
        const all = await numberedAttachments(record.timeline);
        const files = wanted === null ? all : all.filter((a) => a.n === wanted);
        if (files.length === 0)
          throw new NotFoundError(
            wanted === null
              ? `${id} has no attachments`
              : `${id} has no attachment ${wanted} (it has ${all.length})`,
          );
        await mkdir(opts.output, { recursive: true });
        const names = uniqueFileNames(files);
        for (const [i, a] of files.entries()) {
          const file = path.join(opts.output, names[i]!);
          await writeVerified(file, a);
          print(`${file}  ${describeAttachment(a)}`);
        }
      });
    });
}

/**
 * Write one stored file, never over an existing one, checking the bytes against the sha256
 * recorded when it arrived; a damaged copy is removed rather than left looking good.
 */
async function writeVerified(
  file: string,
  a: { blobId: Parameters<typeof openBlob>[0]; size: number; sha256: string },
) {
  const out = await open(file, 'wx').catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'EEXIST'
      ? new CliError(EXIT.cantCreate, `${file} exists already: not overwritten`)
      : new CliError(EXIT.cantCreate, `cannot write ${file}: ${err.message}`);
  });
  const hash = createHash('sha256');
  try {
    for await (const chunk of openBlob(a.blobId, a.size)) {
      hash.update(chunk as Buffer);
      await out.write(chunk as Buffer);
    }
  } finally {
    await out.close();
  }
  if (hash.digest('hex') !== a.sha256) {
    await rm(file, { force: true });
    throw new CliError(EXIT.refused, `${file}: the stored bytes do not match their sha256`);
  }
}
