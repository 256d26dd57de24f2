/**
 * `incidesk evidence --from D --to D -o FILE.zip` writes the evidence pack for a period;
 * `incidesk evidence verify FILE.zip` checks every file against the pack's manifest.
 */
import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { evidenceFiles, verifyEvidence } from '../domain/evidence.js';
import { unzipStored, ZipError, zipStored } from '../domain/zip.js';
import { currentActor } from '../store/audit.js';
import { gatherEvidence } from '../store/evidence.js';
import { CliFailure, reporting } from './app-context.js';
import { EXIT } from './exit-codes.js';
import { print, withStore } from './shared.js';

/** A UTC day (YYYY-MM-DD); `--to` includes its whole day. */
function dayBound(value: string, option: string, end: boolean): Date {
  const t = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : NaN;
  if (Number.isNaN(t))
    throw new CliFailure(EXIT.usage, `${option} ${value}: not a date like 2026-10-01`);
  return new Date(t + (end ? 86_400_000 : 0));
}

export function registerEvidenceCommands(program: Command): void {
  const evidence = program
    .command('evidence')
    .description('the evidence pack for an auditor: a ZIP of CSV/JSON per topic with a manifest')
    .option('--from <date>', 'first day, YYYY-MM-DD (UTC)')
    .option('--to <date>', 'last day, YYYY-MM-DD (UTC), included')
    .option('-o, --output <file>', 'the ZIP file to write')
    .action((opts: { from?: string; to?: string; output?: string }) =>
      reporting(async () => {
        if (!opts.from || !opts.to || !opts.output)
          throw new CliFailure(EXIT.usage, 'evidence needs --from, --to and -o FILE.zip');
        const from = dayBound(opts.from, '--from', false);
        const to = dayBound(opts.to, '--to', true);
        if (to <= from) throw new CliFailure(EXIT.usage, '--to is before --from');
        const gathered = await withStore(() => gatherEvidence(from, to));
        const zip = zipStored(
          evidenceFiles({ ...gathered, createdAt: new Date(), createdBy: currentActor().actor.id }),
        );
        const tmp = `${opts.output}.${process.pid}.tmp`;
        await writeFile(tmp, zip);
        await rename(tmp, opts.output);
        print(
          `evidence pack ${opts.output}: ${gathered.incidents.length} incident(s), ${gathered.steps.length} playbook step(s), ${gathered.drills.length} drill run(s), ${gathered.planVersions.length} plan version(s); audit chain ${gathered.audit.intact ? 'intact' : 'BROKEN'}\nsha256 ${createHash('sha256').update(zip).digest('hex')} (keep it apart from the pack)`,
        );
      }),
    );

  evidence
    .command('verify <file>')
    .description('check every file of a pack against its manifest (exit 65 when one differs)')
    .action((file: string) =>
      reporting(async () => {
        let problems: string[];
        try {
          problems = verifyEvidence(unzipStored(await readFile(file)));
        } catch (err) {
          if (!(err instanceof ZipError)) throw err;
          problems = [err.message];
        }
        if (problems.length)
          throw new CliFailure(
            EXIT.refused,
            `${file} does not verify:\n  ${problems.join('\n  ')}`,
          );
        print(`${file}: every file matches the manifest`);
      }),
    );
}
