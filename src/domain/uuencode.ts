/**
 * uuencode (the pre-MIME `begin <mode> <name>` … `end` blocks). mailparser decodes only base64
 * and quoted-printable, so a Content-Transfer-Encoding: x-uuencode part arrives still encoded and
 * a `uuencode file | mail` block stays in the text body. Pure: text in, bytes out.
 *
 * Tolerated, because real encoders and mail hops produce it: CRLF or LF line ends, characters
 * after the encoded part of a line (checksums, padding), trailing spaces removed in transit
 * (missing characters count as zero bits), space instead of a backtick for zero, a missing
 * zero-length line before `end`, and blank lines inside the block. A block without its `end`
 * line, or with a line that is not uuencoded data, is not decoded at all.
 */

export interface UudecodedFile {
  mode: string;
  filename: string;
  data: Buffer;
}

const BEGIN = /^begin[ \t]+([0-7]{1,4})[ \t]+(\S.*?)[ \t]*$/;
const END = /^end[ \t]*$/;

interface Line {
  text: string;
  /** Offset of the first character of the line. */
  start: number;
  /** Offset just past the line break (or the end of the text). */
  next: number;
}

function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  const re = /\r\n|\n|\r/g;
  let start = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    lines.push({ text: text.slice(start, m.index), start, next: m.index + m[0].length });
    start = m.index + m[0].length;
  }
  if (start < text.length) lines.push({ text: text.slice(start), start, next: text.length });
  return lines;
}

/** The file name without any directory part a sender's path may carry ("/tmp/x.log" → "x.log"). */
function baseName(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? '';
  return base.trim() || name.trim();
}

/**
 * The number of bytes a data line holds, or -1 when it is not uuencoded data. With `out`, the
 * bytes are also written there from `at`.
 */
function decodeLine(line: string, out?: Buffer, at = 0): number {
  if (line.length === 0) return 0; // a blank line: nothing (some hops insert them)
  const lengthCode = line.charCodeAt(0);
  if (lengthCode < 0x20 || lengthCode > 0x60) return -1;
  const length = (lengthCode - 0x20) & 0x3f;
  let produced = 0;
  for (let i = 1; produced < length; i += 4) {
    let group = 0;
    for (let k = 0; k < 4; k++) {
      // Characters beyond the end of the line were trailing spaces (zero) that a hop removed.
      const code = i + k < line.length ? line.charCodeAt(i + k) : 0x20;
      if (code < 0x20 || code > 0x60) return -1;
      group = (group << 6) | ((code - 0x20) & 0x3f);
    }
    for (let shift = 16; shift >= 0 && produced < length; shift -= 8) {
      if (out) out[at + produced] = (group >> shift) & 0xff;
      produced++;
    }
  }
  return length;
}

interface Block {
  /** Index of the begin line and of the end line in the line array. */
  beginLine: number;
  endLine: number;
  file: UudecodedFile;
}

/** The first complete, valid block at or after line `from`, or null. */
function findBlock(lines: readonly Line[], from: number): Block | null {
  for (let i = from; i < lines.length; i++) {
    const begin = BEGIN.exec(lines[i]!.text);
    if (!begin) continue;
    let size = 0;
    let j = i + 1;
    let complete = false;
    for (; j < lines.length; j++) {
      const text = lines[j]!.text;
      if (END.test(text)) {
        complete = true;
        break;
      }
      const n = decodeLine(text);
      if (n < 0) break;
      size += n;
    }
    if (complete) {
      const data = Buffer.alloc(size);
      let at = 0;
      for (let k = i + 1; k < j; k++) at += decodeLine(lines[k]!.text, data, at);
      return {
        beginLine: i,
        endLine: j,
        file: { mode: begin[1]!, filename: baseName(begin[2]!), data },
      };
    }
    // Not a (complete) block: look for another begin line after this one.
  }
  return null;
}

/**
 * Decodes the first `begin <mode> <name>` … `end` block in `text` (anything before or after it
 * is ignored). Null when there is no complete, valid block.
 */
export function decodeUuencoded(text: string): UudecodedFile | null {
  return findBlock(splitLines(text), 0)?.file ?? null;
}

/**
 * Cuts every complete uuencoded block out of a text body and returns the decoded files in order.
 * The rest of the text is kept exactly; incomplete or damaged blocks stay in the text.
 */
export function extractUuencodedBlocks(text: string): {
  text: string;
  files: { filename: string; data: Buffer }[];
} {
  const lines = splitLines(text);
  const files: { filename: string; data: Buffer }[] = [];
  let kept = '';
  let copiedTo = 0;
  let from = 0;
  for (let block = findBlock(lines, from); block; block = findBlock(lines, from)) {
    kept += text.slice(copiedTo, lines[block.beginLine]!.start);
    copiedTo = lines[block.endLine]!.next;
    files.push({ filename: block.file.filename, data: block.file.data });
    from = block.endLine + 1;
  }
  if (files.length === 0) return { text, files };
  return { text: kept + text.slice(copiedTo), files };
}
