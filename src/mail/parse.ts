/**
 * The mailparser adapter: raw bytes in (a stream), a plain ParsedMessage out. Attachments are
 * handed to the caller as streams while parsing, so their bytes go straight to the blob store
 * and a large message never sits in memory whole.
 */
import { Readable } from 'node:stream';
import {
  MailParser,
  type AddressObject,
  type AttachmentStream,
  type HeaderLines,
} from 'mailparser';
import {
  headerBag,
  HeaderSectionScanner,
  type HeaderBag,
  type HeaderSectionEnd,
} from '../domain/headers.js';
import { decodeUuencoded, extractUuencodedBlocks } from '../domain/uuencode.js';

export interface Mailbox {
  address: string;
  name?: string;
}

export interface AttachmentInfo {
  index: number;
  filename?: string;
  contentType: string;
  contentId?: string;
  inline: boolean;
}

export interface ParsedMessage {
  headers: HeaderBag;
  contentType?: string;
  subject: string;
  from: Mailbox[];
  to: Mailbox[];
  cc: Mailbox[];
  messageId?: string;
  /** In-Reply-To first, then References, without duplicates. */
  references: string[];
  date?: Date;
  text: string;
  html?: string;
  /** Bodies of the parts a delivery report is made of, when the message is one. */
  report: { deliveryStatus?: string; originalHeaders?: string };
  /** How the raw header section ends (mailparser parses a truncated one without a word). */
  headerSection: HeaderSectionEnd;
}

/** Consumes the attachment's content stream completely (store it or drain it). */
export type AttachmentSink = (info: AttachmentInfo, content: Readable) => Promise<void>;

/** Report parts are small and needed whole; anything beyond this is not a real report. */
const REPORT_PART_MAX_BYTES = 256 * 1024;

function addresses(value: AddressObject | AddressObject[] | undefined): Mailbox[] {
  const out: Mailbox[] = [];
  const visit = (entries: AddressObject['value']) => {
    for (const e of entries) {
      if (e.group) visit(e.group);
      else if (e.address) out.push({ address: e.address.toLowerCase(), name: e.name || undefined });
    }
  };
  for (const obj of ([] as AddressObject[]).concat(value ?? [])) visit(obj.value);
  return out;
}

function idList(value: unknown): string[] {
  const raw = ([] as unknown[])
    .concat(value ?? [])
    .filter((v): v is string => typeof v === 'string');
  return raw.flatMap((v) => v.match(/<[^<>\s]+>/g) ?? (v.trim() ? [v.trim()] : []));
}

/** Transfer encodings mailparser leaves undecoded that mean uuencode. */
const UUENCODE_CTES = new Set(['x-uuencode', 'uuencode', 'x-uue', 'uue']);

function isUuencodedPart(att: AttachmentStream): boolean {
  const cte = att.headers.get('content-transfer-encoding');
  if (typeof cte !== 'string') return false;
  return UUENCODE_CTES.has(
    cte
      .replace(/\([^()]*\)/g, '')
      .split(';')[0]!
      .trim()
      .toLowerCase(),
  );
}

/** A content type for a file that came out of a uuencoded block (which carries none). */
function typeForName(filename: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(filename)?.[1]?.toLowerCase();
  return (ext && UU_TYPES[ext]) || 'application/octet-stream';
}
const UU_TYPES: Record<string, string> = {
  txt: 'text/plain',
  log: 'text/plain',
  csv: 'text/csv',
  html: 'text/html',
  htm: 'text/html',
  xml: 'application/xml',
  json: 'application/json',
  pdf: 'application/pdf',
  zip: 'application/zip',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
};

async function collectBytes(content: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function collectText(content: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of content) {
    if (size < REPORT_PART_MAX_BYTES) chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, REPORT_PART_MAX_BYTES);
}

export async function parseMessage(
  input: Readable,
  onAttachment: AttachmentSink,
): Promise<ParsedMessage> {
  const parser = new MailParser({ keepDeliveryStatus: true, skipImageLinks: true });
  let headers: Map<string, unknown> = new Map();
  let lines: HeaderLines = [];
  let text = '';
  let html: string | undefined;
  const report: ParsedMessage['report'] = {};
  let index = 0;
  const work: Promise<void>[] = [];

  parser.on('headers', (h) => (headers = h as Map<string, unknown>));
  parser.on('headerLines', (l) => (lines = l));

  const done = new Promise<void>((resolve, reject) => {
    parser.on(
      'data',
      (data: AttachmentStream | { type: 'text'; text?: string; html?: string | false }) => {
        if (data.type === 'text') {
          text = data.text ?? '';
          html = typeof data.html === 'string' ? data.html : undefined;
          return;
        }
        const att = data as AttachmentStream;
        const info: AttachmentInfo = {
          index: index++,
          filename: att.filename,
          contentType: att.contentType,
          contentId: att.contentId,
          inline: att.contentDisposition === 'inline',
        };
        const task = (async () => {
          if (att.contentType === 'message/delivery-status') {
            report.deliveryStatus = await collectText(att.content);
          } else if (att.contentType === 'text/rfc822-headers') {
            report.originalHeaders = await collectText(att.content);
          } else if (isUuencodedPart(att)) {
            // mailparser hands a uuencoded part over still encoded: decode it here (such parts
            // are small). If it does not decode, the bytes are kept as they came.
            const encoded = await collectBytes(att.content);
            const decoded = decodeUuencoded(encoded.toString('latin1'));
            if (decoded) {
              await onAttachment(
                { ...info, filename: info.filename || decoded.filename },
                Readable.from([decoded.data]),
              );
            } else {
              await onAttachment(info, Readable.from([encoded]));
            }
          } else {
            await onAttachment(info, att.content);
          }
        })().finally(() => att.release?.());
        work.push(task);
        task.catch(reject);
      },
    );
    parser.on('error', reject);
    parser.on('end', resolve);
  });
  const scanner = new HeaderSectionScanner();
  input.on('data', (chunk: Buffer | string) =>
    scanner.feed(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)),
  );
  input.on('error', (err) => parser.destroy(err));
  input.pipe(parser);
  await done;
  await Promise.all(work);

  // `uuencode file | mail`: the blocks sit in the text body. Cut them out and store them as
  // attachments, numbered after the MIME attachments.
  const uu = extractUuencodedBlocks(text);
  for (const file of uu.files) {
    const info: AttachmentInfo = {
      index: index++,
      filename: file.filename,
      contentType: typeForName(file.filename),
      inline: false,
    };
    await onAttachment(info, Readable.from([file.data]));
  }
  text = uu.text;

  const contentType = headers.get('content-type') as
    { value?: string; params?: Record<string, string> } | undefined;
  const ctText = contentType?.value
    ? `${contentType.value}${Object.entries(contentType.params ?? {})
        .map(([k, v]) => `; ${k}=${v}`)
        .join('')}`
    : undefined;
  const references = [...idList(headers.get('in-reply-to')), ...idList(headers.get('references'))];
  const date = headers.get('date');
  return {
    headers: headerBag(lines),
    contentType: ctText,
    subject: typeof headers.get('subject') === 'string' ? (headers.get('subject') as string) : '',
    from: addresses(headers.get('from') as AddressObject | undefined),
    to: addresses(headers.get('to') as AddressObject | undefined),
    cc: addresses(headers.get('cc') as AddressObject | undefined),
    messageId: idList(headers.get('message-id'))[0],
    references: [...new Set(references)],
    date: date instanceof Date && !Number.isNaN(date.getTime()) ? date : undefined,
    text,
    html,
    report,
    headerSection: scanner.result(),
  };
}
