/**
 * Header text written as raw 8-bit bytes in a legacy charset (GB2312, Shift_JIS, KOI8-R, …)
 * without RFC 2047 encoding. RFC 5322 forbids it, but old clients send it, and mailparser reads
 * such bytes as UTF-8, which turns them into replacement characters. Here the bytes are decoded
 * with the charsets the message itself declares, then with a charset detector, and a decoding
 * counts only when the letters it yields belong to that charset's script. Pure: bytes in,
 * text out.
 */
import { isUtf8 } from 'node:buffer';
import iconv from 'iconv-lite';
import jschardet from 'jschardet';

export interface LegacyDecoding {
  text: string;
  /** The charset that was used (lower-case, as iconv-lite knows it). */
  charset: string;
  /** How it was chosen: declared by the message, guessed by the detector, or a last resort. */
  via: 'declared' | 'detected' | 'fallback';
}

/** Charsets that can never be the right reading of undeclared 8-bit bytes in a header. */
const NOT_FOR_8BIT = /^(us-?ascii|ascii|utf-?8|utf-?7|utf-?16.*|utf-?32.*|iso-?2022-.*)$/;

/** An RFC 2047 encoded word: such a header is mailparser's to decode, not ours. */
const ENCODED_WORD = /=\?[^?\s]+\?[bq]\?[^?\s]*\?=/i;

/** True when the header bytes are 8-bit, not UTF-8 and not RFC 2047: ours to decode. */
export function needsLegacyDecoding(raw: Buffer): boolean {
  if (!raw.some((b) => b >= 0x80)) return false;
  if (isUtf8(raw)) return false;
  return !ENCODED_WORD.test(raw.toString('latin1'));
}

/**
 * Which letters a charset can produce. A reading whose letters fall outside its own script is
 * a misreading (GB2312 bytes read as windows-1252 yield "×ª·¢", Latin letters a person would
 * not write). Letters only: digits, punctuation and symbols are shared by all.
 */
const SCRIPTS: readonly [RegExp, RegExp][] = [
  [
    /^(gb2312|gbk|gb18030|cp936|euc-?cn|x-gbk|hz-gb-2312|big5.*|cp950)$/,
    /[\p{sc=Han}\p{sc=Bopomofo}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Common}]/u,
  ],
  [
    /^(shift[-_]?jis|sjis|cp932|windows-31j|ms_kanji|euc-?jp)$/,
    /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Common}]/u,
  ],
  [/^(euc-?kr|cp949|ks_c_5601.*|uhc|johab)$/, /[\p{sc=Hangul}\p{sc=Han}\p{sc=Common}]/u],
  [
    /^(koi8-?[rut]|windows-1251|cp1251|iso-?8859-5|cp866|ibm866|maccyrillic|x-mac-cyrillic)$/,
    /\p{sc=Cyrillic}/u,
  ],
  [/^(windows-1253|cp1253|iso-?8859-7)$/, /\p{sc=Greek}/u],
  [/^(windows-1255|cp1255|iso-?8859-8.*)$/, /\p{sc=Hebrew}/u],
  [/^(windows-1256|cp1256|iso-?8859-6)$/, /\p{sc=Arabic}/u],
  [/^(windows-874|cp874|tis-?620|iso-?8859-11)$/, /\p{sc=Thai}/u],
  [
    /^(windows-125[0247]|cp125[0247]|iso-?8859-(1|2|3|4|9|10|13|14|15|16)|latin.*)$/,
    /\p{sc=Latin}/u,
  ],
];

/** Controls (other than tab), private use, unassigned code points and U+FFFD: not text. */
// eslint-disable-next-line no-control-regex
const NOT_TEXT = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\p{Co}\p{Cn}\ufffd]/u;
/** Three accented letters in a row: European words have one here and there, mojibake runs. */
const LATIN_RUN = /[\u00c0-\u024f]{3}/;

/** Is `text` plausibly what a person wrote in `charset`? */
export function plausibleIn(text: string, charset: string): boolean {
  if (NOT_TEXT.test(text)) return false;
  const script = SCRIPTS.find(([names]) => names.test(charset))?.[1];
  const letters = [...text].filter((ch) => ch > '\u007f' && /\p{L}/u.test(ch));
  if (script && !letters.every((ch) => script.test(ch))) return false;
  if (script?.test('a') && LATIN_RUN.test(text)) return false;
  return true;
}

function canonical(charset: string): string {
  return charset.trim().toLowerCase();
}

/** The charset detector's guesses for the bytes, most confident first. */
function detected(raw: Buffer): string[] {
  const guesses = jschardet.detectAll(raw.toString('latin1'), { minimumThreshold: 0 }) ?? [];
  return guesses.flatMap((g) => (g.encoding ? [canonical(g.encoding)] : []));
}

function usable(charset: string): boolean {
  return !NOT_FOR_8BIT.test(charset) && iconv.encodingExists(charset);
}

/**
 * Decodes header bytes that are not UTF-8. `declared` are the charsets the message declares
 * for its text parts, in order; they are tried first (a client writes its headers in the
 * charset it writes its body in), then the detector's guesses. The first reading that is
 * plausible text in its own script wins; when none is, the first that decodes without a
 * replacement character, else windows-1252 (which loses no byte).
 */
export function decodeLegacyHeader(raw: Buffer, declared: readonly string[]): LegacyDecoding {
  const candidates: { charset: string; via: LegacyDecoding['via'] }[] = [];
  const seen = new Set<string>();
  const add = (charset: string, via: LegacyDecoding['via']) => {
    const c = canonical(charset);
    if (seen.has(c) || !usable(c)) return;
    seen.add(c);
    candidates.push({ charset: c, via });
  };
  for (const c of declared) add(c, 'declared');
  for (const c of detected(raw)) add(c, 'detected');

  const readings = candidates.map((c) => ({ ...c, text: iconv.decode(raw, c.charset) }));
  const best =
    readings.find((r) => plausibleIn(r.text, r.charset)) ??
    readings.find((r) => !r.text.includes('\ufffd'));
  if (best) return best;
  return { text: iconv.decode(raw, 'windows-1252'), charset: 'windows-1252', via: 'fallback' };
}

/**
 * Finds the charsets a message declares for its text parts (`Content-Type: text/…;
 * charset=…`) in raw bytes fed chunk by chunk, so it can watch the stream being parsed. Keeps
 * a short tail of the previous chunk so a declaration cut by a chunk boundary is still seen.
 */
export class CharsetDeclarationScanner {
  private tail = '';
  private readonly found: string[] = [];

  feed(chunk: Buffer): void {
    const text = this.tail + chunk.toString('latin1');
    for (const m of text.matchAll(TEXT_CONTENT_TYPE)) {
      // A header that runs to the chunk's end may be cut off: it is read whole next time.
      if (m.index + m[0].length === text.length) continue;
      const charset = /charset\s*=\s*"?([^\s";]+)/i.exec(m[0])?.[1];
      if (charset && !this.found.includes(canonical(charset))) this.found.push(canonical(charset));
    }
    this.tail = text.slice(-TAIL_CHARS);
  }

  /** The declared charsets so far, in order of appearance, without repeats. */
  charsets(): readonly string[] {
    return this.found;
  }
}

const TAIL_CHARS = 512;
const TEXT_CONTENT_TYPE = /^content-type:[ \t]*text\/[^\r\n]*(?:\r?\n[ \t]+[^\r\n]*)*/gim;

/**
 * Decodes several legacy headers of one message. A client writes all of them in one charset,
 * and a display name of two or three characters is too short for a detector on its own: so
 * the headers are read together first, and that reading's charset is kept for every header it
 * reads plausibly. A header it does not fit is decoded on its own.
 */
export function decodeLegacyHeaders(
  raws: readonly Buffer[],
  declared: readonly string[],
): LegacyDecoding[] {
  if (raws.length === 0) return [];
  const joint = decodeLegacyHeader(Buffer.concat(raws.flatMap((r) => [r, SPACE])), declared);
  return raws.map((raw) => {
    const text = iconv.decode(raw, joint.charset);
    return plausibleIn(text, joint.charset)
      ? { text, charset: joint.charset, via: joint.via }
      : decodeLegacyHeader(raw, declared);
  });
}
const SPACE = Buffer.from(' ');
