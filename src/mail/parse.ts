/**
 * The mailparser adapter: raw bytes in (a stream), a plain ParsedMessage out. Attachments are
 * handed to the caller as streams while parsing, so their bytes go straight to the blob store
 * and a large message never sits in memory whole.
 */
import { Readable, Transform } from 'node:stream';
import { PARSE_CHUNK_BYTES } from '../constants.js';
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
import {
  CharsetDeclarationScanner,
  decodeLegacyHeader,
  decodeLegacyHeaders,
  needsLegacyDecoding,
  type LegacyDecoding,
} from '../domain/header-charset.js';
import addressparser from 'nodemailer/lib/addressparser/index.js';

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
  replyTo: Mailbox[];
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
  /** Headers written in an undeclared legacy charset, with their raw bytes and our reading. */
  legacyHeaders: LegacyHeader[];
}

/** A header (or attachment name) that was raw 8-bit bytes in a legacy charset. */
export interface LegacyHeader extends LegacyDecoding {
  /** `subject`, `from`, `to`, `cc`, `reply-to` or `attachment 2 name`. */
  field: string;
  raw: Buffer;
}

/** The headers whose text a person reads: decoded from a legacy charset when written in one. */
const TEXT_HEADERS = ['subject', 'from', 'to', 'cc', 'reply-to'] as const;

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

/** The mailboxes in an address header's text (our own decoding of it). */
function addressesOfText(text: string): Mailbox[] {
  return addressparser(text, { flatten: true })
    .filter((a) => a.address)
    .map((a) => ({ address: a.address.toLowerCase(), name: a.name || undefined }));
}

/**
 * Reads the text headers that are raw legacy-charset bytes (see src/domain/header-charset.ts):
 * mailparser read them as UTF-8 and made replacement characters of them. `declared` are the
 * charsets the message declares for its text parts.
 */
function legacyHeaders(bag: HeaderBag, declared: readonly string[]): LegacyHeader[] {
  const found: { field: string; raw: Buffer }[] = [];
  for (const field of TEXT_HEADERS) {
    for (const [i, value] of (bag.get(field) ?? []).entries()) {
      const raw = Buffer.from(value, 'latin1'); // the bag keeps header bytes as latin1
      const name = i === 0 ? field : `${field} ${i + 1}`;
      if (needsLegacyDecoding(raw)) found.push({ field: name, raw });
    }
  }
  const decoded = decodeLegacyHeaders(
    found.map((f) => f.raw),
    declared,
  );
  return found.map((f, i) => ({ ...f, ...decoded[i]! }));
}

/**
 * The raw bytes of an attachment's name when it was written as undeclared 8-bit bytes.
 * mailsplit keeps such a name as a latin1 string of its bytes (it decodes only valid UTF-8),
 * and mailparser's own reading of the header shows U+FFFD where those bytes were: that tells
 * the two cases apart, since a latin1 string of a UTF-8 name would look the same.
 */
function rawAttachmentName(att: AttachmentStream): Buffer | undefined {
  const name = att.filename;
  if (!name || [...name].some((ch) => ch > '\u00ff')) return undefined;
  const ownReading = JSON.stringify([
    att.headers.get('content-disposition'),
    att.headers.get('content-type'),
  ]);
  if (!ownReading.includes('\ufffd')) return undefined;
  const raw = Buffer.from(name, 'latin1');
  return needsLegacyDecoding(raw) ? raw : undefined;
}

/** A header value kept as latin1 bytes, read as the UTF-8 it almost always is. */
function utf8(value: string): string {
  return Buffer.from(value, 'latin1').toString('utf8');
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

/** Cuts what passes into pieces of at most PARSE_CHUNK_BYTES, without copying. */
function smallChunks(): Transform {
  return new Transform({
    transform(chunk: Buffer | string, _enc, done) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      for (let at = 0; at < bytes.length; at += PARSE_CHUNK_BYTES)
        this.push(bytes.subarray(at, at + PARSE_CHUNK_BYTES));
      done();
    },
  });
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
  const declared = new CharsetDeclarationScanner();
  const legacy: LegacyHeader[] = [];
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
        const attIndex = index++;
        // Only the charsets declared so far are known here (the body usually comes first).
        const rawName = rawAttachmentName(att);
        const name = rawName && decodeLegacyHeader(rawName, declared.charsets());
        if (rawName && name)
          legacy.push({ field: `attachment ${attIndex} name`, raw: rawName, ...name });
        const info: AttachmentInfo = {
          index: attIndex,
          filename: name ? name.text : att.filename,
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
  input.on('data', (chunk: Buffer | string) => {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    scanner.feed(bytes);
    declared.feed(bytes);
  });
  input.on('error', (err) => parser.destroy(err));
  input.pipe(smallChunks()).pipe(parser);
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
  const bag = headerBag(lines);
  const own = legacyHeaders(bag, declared.charsets());
  const ours = (field: string) => own.find((l) => l.field === field)?.text;
  const mailboxes = (field: 'from' | 'to' | 'cc' | 'reply-to') => {
    const text = ours(field);
    return text === undefined
      ? addresses(headers.get(field) as AddressObject | undefined)
      : addressesOfText(text);
  };
  // mailparser reads only the first From header; a second one can hold the real sender.
  const laterFrom = (bag.get('from') ?? [])
    .slice(1)
    .flatMap((value, i) => addressesOfText(ours(`from ${i + 2}`) ?? utf8(value)));
  const subject =
    ours('subject') ??
    (typeof headers.get('subject') === 'string' ? (headers.get('subject') as string) : '');
  return {
    headers: bag,
    contentType: ctText,
    subject,
    from: [...mailboxes('from'), ...laterFrom],
    to: mailboxes('to'),
    cc: mailboxes('cc'),
    replyTo: mailboxes('reply-to'),
    messageId: idList(headers.get('message-id'))[0],
    references: [...new Set(references)],
    date: date instanceof Date && !Number.isNaN(date.getTime()) ? date : undefined,
    text,
    html,
    report,
    headerSection: scanner.result(),
    legacyHeaders: [...own, ...legacy],
  };
}
