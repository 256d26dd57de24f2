import type { Readable } from 'node:stream';
import { putBlob } from './blobs.js';
import { Attachment } from './models.js';

export interface AttachmentInput {
  rawId: string;
  index: number;
  filename?: string;
  contentType: string;
  contentId?: string;
  inline: boolean;
}

/**
 * Store one attachment of a raw message. Its id is derived from the message and the part's
 * position, so a re-run of the same message finds it and only drains the stream.
 */
export async function saveAttachment(input: AttachmentInput, content: Readable): Promise<string> {
  const id = `${input.rawId}-${input.index}`;
  if (await Attachment.exists({ _id: id })) {
    content.resume();
    await new Promise((resolve) => content.once('end', resolve));
    return id;
  }
  const blob = await putBlob(content, {
    filename: input.filename ?? id,
    contentType: input.contentType,
  });
  await Attachment.updateOne(
    { _id: id },
    {
      $setOnInsert: {
        rawId: input.rawId,
        filename: input.filename,
        contentType: input.contentType,
        contentId: input.contentId,
        inline: input.inline,
        size: blob.size,
        sha256: blob.sha256,
        blobId: blob.blobId,
      },
    },
    { upsert: true },
  );
  return id;
}

// Both address attachments by _id, one by one: primary-key lookups stay fast on every
// MongoDB-protocol server, where a filter on another field may scan the collection.
export async function linkAttachments(ids: readonly string[], incidentNumber: number) {
  for (const _id of ids) await Attachment.updateOne({ _id }, { $set: { incidentNumber } });
}

export async function attachmentsOf(ids: readonly string[]) {
  const found = await Promise.all(ids.map((_id) => Attachment.findById(_id).lean()));
  return found.filter((a) => a !== null);
}

/**
 * Every file an incident received, numbered from 1 in the order of its timeline's messages:
 * the numbers `incidents show`, agents' mail and `incidesk attachments get` share.
 */
export async function numberedAttachments(
  timeline: readonly { type?: string | null; attachmentIds?: readonly string[] | null }[],
) {
  const ids = [
    ...new Set(timeline.filter((e) => e.type === 'message').flatMap((e) => e.attachmentIds ?? [])),
  ];
  const byId = new Map((await attachmentsOf(ids)).map((a) => [a._id, a]));
  return ids.flatMap((id, i) => {
    const a = byId.get(id);
    return a ? [{ ...a, id, n: i + 1 }] : [];
  });
}
