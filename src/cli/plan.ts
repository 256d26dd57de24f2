/**
 * `incidesk plan …`: the annual review of the response plan and its version history. The
 * review is written into the plan file itself (reviewedAt, reviewedBy, nextReviewDue, and a
 * new version) and recorded, with who approved it and their note, in `plan_versions` and the
 * audit log.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseDocument } from 'yaml';
import { loadOperatorAuth } from '../config.js';
import {
  addYears,
  PLAN_REVIEW_INTERVAL_YEARS,
  planReviewState,
  planReviewWarning,
  utcDay,
} from '../domain/plan-review.js';
import { parsePlan } from '../plan/load.js';
import { currentActor, planVersions, recordPlanVersion } from '../store/audit.js';
import { CliFailure, reporting } from './app-context.js';
import { EXIT } from './exit-codes.js';
import { print, withStore } from './shared.js';

export function planPath(): string {
  const path = loadOperatorAuth().planPath;
  if (!path) throw new CliFailure(EXIT.config, 'INCIDESK_PLAN: is required');
  return path;
}

/** The plan text with the review recorded in it, as a new version; comments are kept. */
export function withReview(
  text: string,
  review: { version: number; reviewedAt: string; reviewedBy: string; nextReviewDue: string },
): string {
  const doc = parseDocument(text);
  for (const [key, value] of Object.entries(review)) doc.set(key, value);
  return String(doc);
}

export function registerPlanCommands(program: Command): void {
  const plan = program.command('plan').description('the response plan: annual review, versions');

  plan
    .command('review')
    .description('where the annual review stands; with --approve, record that it was done')
    .option('--approve', 'record the review: updates the plan file and plan_versions')
    .option('--note <text>', 'what was reviewed and changed (required with --approve)')
    .option(
      '--next-due <date>',
      `next review, YYYY-MM-DD (default: in ${PLAN_REVIEW_INTERVAL_YEARS} year)`,
    )
    .action((opts: { approve?: boolean; note?: string; nextDue?: string }) =>
      reporting(async () => {
        const path = planPath();
        const text = await readFile(path, 'utf8');
        const current = parsePlan(text, path);
        const now = new Date();
        if (!opts.approve) {
          const state = planReviewState(current, now);
          print(
            [
              `plan ${current.fingerprint}: reviewed ${current.reviewedAt ?? 'never'}${current.reviewedBy ? ` by ${current.reviewedBy}` : ''}, next review due ${current.nextReviewDue ?? '(not set)'} (${state.state})`,
              planReviewWarning(current, now) ?? '',
            ]
              .filter(Boolean)
              .join('\n'),
          );
          return;
        }
        const note = opts.note?.trim();
        if (!note) throw new CliFailure(EXIT.usage, '--approve needs --note <what was reviewed>');
        const today = utcDay(now);
        const nextReviewDue = opts.nextDue ?? addYears(today, PLAN_REVIEW_INTERVAL_YEARS);
        if (!(nextReviewDue > today))
          throw new CliFailure(EXIT.usage, `--next-due ${nextReviewDue}: must be after today`);
        const approvedBy = currentActor().actor.id;
        const reviewed = withReview(text, {
          version: current.version + 1,
          reviewedAt: today,
          reviewedBy: approvedBy,
          nextReviewDue,
        });
        const next = parsePlan(reviewed, path); // e.g. a bad --next-due is named here
        // The record first: a file that cannot be written leaves an approved version on
        // record and the command failing, never an approval nobody recorded.
        await withStore(() =>
          recordPlanVersion(
            { fingerprint: next.fingerprint, version: next.version, text: reviewed },
            { approvedBy, approvedAt: now, note },
          ),
        );
        const tmp = `${path}.${process.pid}.tmp`;
        await writeFile(tmp, reviewed, 'utf8');
        await rename(tmp, path);
        print(
          `plan review approved by ${approvedBy}: version ${next.version} (${next.fingerprint}), next review due ${nextReviewDue}; restart incidesk to run with it`,
        );
      }),
    );

  plan
    .command('versions')
    .description('every recorded plan version, and who approved it at a review')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) =>
      reporting(async () => {
        const rows = await withStore(() => planVersions());
        if (opts.json) {
          print(JSON.stringify(rows, null, 2));
          return;
        }
        print(
          rows
            .map(
              (v) =>
                `${String(v._id).padStart(3)}  v${v.version}  ${v.fingerprint}  recorded ${v.recordedAt.toISOString()}${v.approvedBy ? `  approved by ${v.approvedBy}: ${v.note ?? ''}` : ''}`,
            )
            .join('\n') || 'no plan version recorded yet',
        );
      }),
    );
}
