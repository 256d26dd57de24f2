/**
 * Times as people read them in mail: in the recipient's zone, in their language, with the
 * zone named ("Mon, 7 Dec 2026, 14:30 CET", "Mo., 7. Dez. 2026, 14:30 MEZ"). Never raw UTC.
 */

/**
 * The Intl locale a mail locale writes dates in: plain `en` would be US order ("Dec 7"), so
 * English mail uses the day-month order of British English; any other tag is used as it is.
 */
const INTL_LOCALES: Readonly<Record<string, string>> = { en: 'en-GB' };

const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(zone: string, locale: string): Intl.DateTimeFormat {
  const key = `${locale}|${zone}`;
  let f = formats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(INTL_LOCALES[locale] ?? locale, {
      weekday: 'short',
      day: 'numeric',
      month: 'short',
      year: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      timeZone: zone,
      timeZoneName: 'short',
    });
    formats.set(key, f);
  }
  return f;
}

/** `at` in `zone` (an IANA name) for a reader of `locale` (a mail locale such as `en`, `de`). */
export function formatTime(at: Date, zone: string, locale: string): string {
  return formatFor(zone, locale).format(at);
}
