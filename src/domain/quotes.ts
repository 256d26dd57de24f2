/**
 * Quote stripping: keep the new part of a reply, drop the quoted history.
 *
 * 1. Cut at the first reply header that follows new content: an attribution
 *    line ("On … wrote:", "Am … schrieb …:", "Le … a écrit :", "El … escribió:",
 *    possibly wrapped over two lines), "-----Original Message-----", an
 *    underscore rule followed by "From:", or an Outlook/Exchange header block
 *    (From: then Sent:/Date: and To:/Subject: within 4 lines). A header with
 *    nothing new above it (bottom-posting, interleaving, a bare forward) is
 *    not a cut point; a From: block introduced by a "Forwarded message"
 *    marker is forwarded content, not history, and is kept.
 * 2. Drop a trailing signature after the last "-- " / "--" line.
 * 3. Drop quoted ("> ") lines after the last line of new content; inline
 *    quotes followed by new text (interleaved replies) are kept.
 * If all that is left is quoted, the result is ''. If the input had new
 * content, the result is never ''.
 */

type Kind = 'blank' | 'quoted' | 'attribution' | 'content';

const ATTRIBUTION = [
  /^On\s.+\swrote\s*:$/i,
  /^Am\s.+\sschrieb\s.*:$/i,
  /^Le\s.+\sa\s+écrit\s*:$/i,
  /^El\s.+\sescribió\s*:$/i,
];
const ATTRIBUTION_START = /^(On|Am|Le|El)\s/i;
const ORIGINAL_MESSAGE =
  /^-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original)\s*-{2,}$/i;
const UNDERSCORE_RULE = /^_{20,}$/;
const FROM_LINE = /^\*?(From|Von|De)\s*:\*?\s*\S/i;
const DATE_LINE = /^\*?(Sent|Date|Gesendet|Datum|Envoyé|Enviado|Fecha)\s*:/i;
const TO_LINE = /^\*?(To|Subject|An|Betreff|À|Objet|Para|Asunto)\s*:/i;
const FORWARD_MARKER = [
  /^-+\s*Forwarded message\s*-+$/i,
  /^Begin forwarded message\s*:$/i,
  /^-+\s*(Weitergeleitete Nachricht|Message transféré|Mensaje reenviado)\s*-+$/i,
];
const SIGNATURE_DELIMITER = /^--\s?$/;

function isQuoted(line: string): boolean {
  return /^\s*>/.test(line);
}

function isBlank(line: string): boolean {
  return line.trim() === '';
}

/** Number of lines (1 or 2) of an attribution starting at i, or 0. */
function attributionAt(lines: readonly string[], i: number): number {
  const line = (lines[i] ?? '').trim();
  if (!ATTRIBUTION_START.test(line)) return 0;
  // A date, time or address keeps prose like "On reflection, he wrote:" out.
  if (ATTRIBUTION.some((re) => re.test(line)) && /[\d@]/.test(line)) return 1;
  const next = lines[i + 1];
  if (next === undefined || isBlank(next) || isQuoted(next)) return 0;
  const joined = `${line} ${next.trim()}`;
  // Gmail wraps long attributions; those always carry the sender's address.
  if (ATTRIBUTION.some((re) => re.test(joined)) && joined.includes('@')) return 2;
  return 0;
}

function isFromBlock(lines: readonly string[], i: number): boolean {
  if (!FROM_LINE.test((lines[i] ?? '').trim())) return false;
  const window = lines.slice(i + 1, i + 5).map((l) => l.trim());
  return window.some((l) => DATE_LINE.test(l)) && window.some((l) => TO_LINE.test(l));
}

function followedByFrom(lines: readonly string[], i: number): boolean {
  for (let j = i + 1; j < lines.length && j <= i + 3; j++) {
    const l = (lines[j] ?? '').trim();
    if (l === '') continue;
    return FROM_LINE.test(l);
  }
  return false;
}

function precededByForwardMarker(lines: readonly string[], i: number): boolean {
  for (let j = i - 1; j >= 0; j--) {
    const l = (lines[j] ?? '').trim();
    if (l === '') continue;
    return FORWARD_MARKER.some((re) => re.test(l));
  }
  return false;
}

/** Length in lines of a reply header starting at i (0 when none). */
function replyHeaderAt(
  lines: readonly string[],
  i: number,
): { length: number; attribution: boolean } {
  const attribution = attributionAt(lines, i);
  if (attribution > 0) return { length: attribution, attribution: true };
  const line = (lines[i] ?? '').trim();
  if (ORIGINAL_MESSAGE.test(line)) return { length: 1, attribution: false };
  if (
    UNDERSCORE_RULE.test(line) &&
    followedByFrom(lines, i) &&
    !precededByForwardMarker(lines, i)
  ) {
    return { length: 1, attribution: false };
  }
  if (isFromBlock(lines, i) && !precededByForwardMarker(lines, i)) {
    return { length: 1, attribution: false };
  }
  return { length: 0, attribution: false };
}

function finish(
  lines: readonly string[],
  kinds: readonly Kind[],
  end: number,
  stripSignature: boolean,
): string {
  let stop = end;
  if (stripSignature) {
    for (let i = end - 1; i >= 0; i--) {
      if (kinds[i] !== 'quoted' && SIGNATURE_DELIMITER.test(lines[i] ?? '')) {
        stop = i;
        break;
      }
    }
  }
  let last = -1;
  for (let i = stop - 1; i >= 0; i--) {
    if (kinds[i] === 'content') {
      last = i;
      break;
    }
  }
  if (last < 0) return '';
  let firstLine = 0;
  while (firstLine < last && kinds[firstLine] === 'blank') firstLine++;
  return lines
    .slice(firstLine, last + 1)
    .map((l) => l.trimEnd())
    .join('\n');
}

/** The new part of a reply body (plain text). */
export function stripQuoted(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').normalize('NFC').split('\n');
  const kinds: Kind[] = lines.map((l) =>
    isBlank(l) ? 'blank' : isQuoted(l) ? 'quoted' : 'content',
  );

  let end = lines.length;
  let seenContent = false;
  for (let i = 0; i < lines.length; i++) {
    if (kinds[i] === 'quoted' || kinds[i] === 'blank') continue;
    const header = replyHeaderAt(lines, i);
    if (header.length > 0 && seenContent) {
      end = i;
      break;
    }
    if (header.length > 0) {
      // Nothing new above it: bottom-posted or interleaved reply, or a bare forward.
      if (header.attribution) {
        for (let j = i; j < i + header.length; j++) kinds[j] = 'attribution';
      }
      i += header.length - 1;
      continue;
    }
    seenContent = true;
  }

  const result = finish(lines, kinds, end, true);
  if (result !== '') return result;
  // The only new text was a signature: better to return it than to claim nothing is new.
  return finish(lines, kinds, end, false);
}
