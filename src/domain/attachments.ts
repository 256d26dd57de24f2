/**
 * Customer attachments for the people working an incident: which files ride along with a mail
 * (up to the plan's per-mail total, in the order they came), how each is named in lists, and
 * a file name that is safe to write to disk. Pure.
 */

export interface AttachmentInfo {
  id: string;
  /** Its number on the incident: 1 for the first file the incident received. */
  n: number;
  filename?: string | null;
  contentType?: string | null;
  size: number;
}

/**
 * Split a message's attachments into those attached to a mail (in order, while the running
 * total stays within `maxBytes`; a file that does not fit is skipped, a smaller later one may
 * still fit) and those only listed, to be fetched with `incidesk attachments get`.
 */
export function splitForMail<T extends { size: number }>(
  attachments: readonly T[],
  maxBytes: number,
): { attached: T[]; listed: T[] } {
  const attached: T[] = [];
  const listed: T[] = [];
  let total = 0;
  for (const a of attachments) {
    if (total + a.size <= maxBytes) {
      attached.push(a);
      total += a.size;
    } else listed.push(a);
  }
  return { attached, listed };
}

const UNITS = ['bytes', 'KB', 'MB', 'GB'] as const;

/** "512 bytes", "48.2 KB", "12.0 MB" (1 KB = 1024 bytes). */
export function formatSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** `#2 bank statement.png (image/png, 48.2 KB)`: how lists name a file. */
export function describeAttachment(a: AttachmentInfo): string {
  return `#${a.n} ${a.filename || '(no name)'} (${a.contentType || 'application/octet-stream'}, ${formatSize(a.size)})`;
}

const MAX_NAME = 120;

/**
 * A name to write the file under in a directory the operator chose: only the last path
 * component, no control or path characters, no leading dots (hidden files, `..`), not a
 * Windows device name, at most 120 characters with the extension kept; `attachment-N` when
 * nothing usable is left.
 */
export function safeFileName(name: string | null | undefined, n: number): string {
  let s = (name ?? '').normalize('NFC');
  s = s.split(/[/\\]/).pop() ?? '';
  s = s
    // eslint-disable-next-line no-control-regex -- control characters are what is removed
    .replace(/[\u0000-\u001f\u007f-\u009f<>:"|?*]/g, '_')
    .replace(/^[\s.]+/, '')
    .replace(/[\s.]+$/, '')
    .trim();
  if (/^(con|prn|aux|nul|com\d|lpt\d)(\.|$)/i.test(s)) s = `_${s}`;
  if (s.length > MAX_NAME) {
    const dot = s.lastIndexOf('.');
    const ext = dot > 0 && s.length - dot <= 10 ? s.slice(dot) : '';
    s = s.slice(0, MAX_NAME - ext.length) + ext;
  }
  return s || `attachment-${n}`;
}

/**
 * Safe names for files written together: a name already taken gets `-N` (its number) before
 * the extension, so no file overwrites another.
 */
export function uniqueFileNames(files: readonly { filename?: string | null; n: number }[]) {
  const taken = new Set<string>();
  return files.map((f) => {
    let name = safeFileName(f.filename, f.n);
    if (taken.has(name.toLowerCase())) {
      const dot = name.lastIndexOf('.');
      name = dot > 0 ? `${name.slice(0, dot)}-${f.n}${name.slice(dot)}` : `${name}-${f.n}`;
    }
    taken.add(name.toLowerCase());
    return name;
  });
}
