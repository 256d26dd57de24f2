/**
 * Handlebars templates from templates/: `<name>.text.hbs` (plain text, not HTML-escaped) and
 * `<name>.html.hbs` (escaped). Partials live in templates/partials/ with the same suffixes and
 * are used by their base name (`{{> digest-table}}`): `.html.hbs` ones in HTML templates,
 * `.text.hbs` ones in text templates. Compiled once per process.
 *
 * Mail customers read is localised: `templates/<locale>/<name>.*.hbs`, looked up in the mail's
 * locale, then in the plan's default locale; staff mail lives in templates/ itself. Two
 * helpers: `{{time at}}` writes a Date in the mail's zone and language (the `timeZone` and
 * `locale` of the data), `{{markdown text}}` (HTML only) an agent's light markdown as HTML.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { formatTime } from '../domain/time-format.js';
import { markdownToHtml } from './markdown.js';

function templateDir(): string {
  // Works from src/ (tsx, tests) and from dist/src/ (built): templates/ sits at the package root.
  const here = fileURLToPath(new URL('.', import.meta.url));
  const root = here.includes('/dist/')
    ? here.slice(0, here.indexOf('/dist/'))
    : here.replace(/\/src\/mail\/$/, '');
  return `${root}/templates/`;
}

const cache = new Map<string, Handlebars.TemplateDelegate>();
const text = Handlebars.create();
const html = Handlebars.create();
let setUp = false;

/** `{{time at}}`: a Date in the zone and language of the mail; `-` for none. */
function timeHelper(this: unknown, at: unknown, options: Handlebars.HelperOptions): string {
  if (!(at instanceof Date)) return at === null || at === undefined ? '-' : String(at);
  const root = (options.data as { root: { timeZone?: string; locale?: string } }).root;
  return formatTime(at, root.timeZone ?? 'UTC', root.locale ?? 'en');
}

function setUpOnce(): void {
  if (setUp) return;
  setUp = true;
  text.registerHelper('time', timeHelper);
  html.registerHelper('time', timeHelper);
  html.registerHelper(
    'markdown',
    (value: unknown) => new Handlebars.SafeString(markdownToHtml(String(value ?? ''))),
  );
  const dir = `${templateDir()}partials/`;
  if (!existsSync(dir)) return;
  for (const file of readdirSync(dir)) {
    const m = /^(.+)\.(html|text)\.hbs$/.exec(file);
    if (!m) continue;
    (m[2] === 'html' ? html : text).registerPartial(m[1]!, readFileSync(dir + file, 'utf8'));
  }
}

function compiled(file: string, escape: boolean): Handlebars.TemplateDelegate {
  setUpOnce();
  let tpl = cache.get(file);
  if (!tpl) {
    const source = readFileSync(templateDir() + file, 'utf8');
    tpl = escape
      ? html.compile(source, { strict: true })
      : text.compile(source, { noEscape: true, strict: true });
    cache.set(file, tpl);
  }
  return tpl;
}

let locales: string[] | undefined;

/** The locales templates/ has a folder for (`en`, `de`, …); read once per process. */
export function templateLocales(): string[] {
  const dir = templateDir();
  locales ??= readdirSync(dir)
    .filter((f) => f !== 'partials' && statSync(dir + f).isDirectory())
    .sort();
  return locales;
}

/** Template names (`acknowledgement`, …) with a text part in a locale's folder. */
export function localisedNames(locale: string): Set<string> {
  const dir = `${templateDir()}${locale}/`;
  if (!existsSync(dir)) return new Set();
  return new Set(
    readdirSync(dir)
      .map((f) => /^(.+)\.text\.hbs$/.exec(f)?.[1])
      .filter((n): n is string => n !== undefined),
  );
}

/**
 * The locale whose folder has template `name`: `locale`, else the default locale; none for
 * staff mail (templates/ itself).
 */
function templateLocale(name: string, locale: string, defaultLocale: string): string | undefined {
  return [locale, defaultLocale].find((l) => existsSync(`${templateDir()}${l}/${name}.text.hbs`));
}

/**
 * What the templates lack, for `incidesk check`: every customer template (one any locale
 * folder has) missing from a locale folder or from a locale the plan names. A locale that
 * lacks one falls back to the default locale; the default locale lacking one is an error.
 */
export function templateProblems(
  defaultLocale: string,
  planLocales: readonly string[] = [],
): { errors: string[]; warnings: string[] } {
  const locales = [...new Set([defaultLocale, ...templateLocales(), ...planLocales])];
  const all = new Set(locales.flatMap((l) => [...localisedNames(l)]));
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const locale of locales) {
    const have = localisedNames(locale);
    for (const kind of ['text', 'html'])
      for (const name of have)
        if (!existsSync(`${templateDir()}${locale}/${name}.${kind}.hbs`))
          (locale === defaultLocale ? errors : warnings).push(
            `templates/${locale}/${name}.${kind}.hbs is missing`,
          );
    const missing = [...all].filter((n) => !have.has(n)).sort();
    if (missing.length === 0) continue;
    if (locale === defaultLocale)
      errors.push(
        `templates/${locale}/ (the default locale) lacks ${missing.join(', ')}: customer mail cannot be written`,
      );
    else
      warnings.push(
        `templates/${locale}/ lacks ${missing.join(', ')}: ${locale} customers get those in ${defaultLocale}`,
      );
  }
  return { errors, warnings };
}

export interface Rendered {
  text: string;
  /** Customer-facing mail has an HTML part; notifications to staff are plain text. */
  html?: string;
}

/**
 * Render template `name` with `data`. `data.locale` picks the localised template (falling
 * back to `defaultLocale`) and, with `data.timeZone`, how `{{time}}` writes times.
 */
export function render(
  name: string,
  data: Record<string, unknown> & { locale?: string; timeZone?: string },
  defaultLocale = 'en',
): Rendered {
  const locale = templateLocale(name, data.locale ?? defaultLocale, defaultLocale);
  const folder = locale ? `${locale}/` : '';
  // A template that fell back to the default locale writes its times in that language too.
  const view = locale ? { ...data, locale } : data;
  const htmlFile = `${folder}${name}.html.hbs`;
  return {
    text: compiled(`${folder}${name}.text.hbs`, false)(view),
    html: existsSync(templateDir() + htmlFile) ? compiled(htmlFile, true)(view) : undefined,
  };
}
