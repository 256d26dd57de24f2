import type { AppContext } from '../context.js';
import { describeAttachment, splitForMail } from '../domain/attachments.js';
import { formatIncidentId } from '../domain/tokens.js';
import { numberedAttachments } from '../store/attachments.js';
import { timelineWithMerged } from '../store/review.js';

/**
 * The customer's files for a mail that tells staff about one of the customer's messages:
 * those within the plan's per-mail limit ride along, the rest are listed with the command that
 * fetches them. Only the files of that message (`ids`), so nothing crosses to other mail.
 */
export async function filesForStaffMail(ctx: AppContext, incident: number, ids: readonly string[]) {
  const wanted = new Set(ids);
  // Their numbers come from the whole timeline; a mail without files need not read it.
  const files =
    wanted.size === 0
      ? []
      : (await numberedAttachments(await timelineWithMerged(incident))).filter((a) =>
          wanted.has(a.id),
        );
  const { attached, listed } = splitForMail(
    files,
    ctx.plan.attachments.toAgentsMaxMB * 1024 * 1024,
  );
  return {
    attachmentIds: attached.map((a) => a.id),
    files: {
      attached: attached.map(describeAttachment),
      listed: listed.map(describeAttachment),
      fetch: `incidesk attachments get ${formatIncidentId(incident)} ${listed.length === 1 ? listed[0]!.n : 'N'} -o DIR`,
    },
  };
}
