/**
 * Handlebars templates from templates/: `<name>.text.hbs` (plain text, not HTML-escaped) and
 * `<name>.html.hbs` (escaped). Partials live in templates/partials/ with the same suffixes and
 * are used by their base name (`{{> digest-table}}`): `.html.hbs` ones in HTML templates,
 * `.text.hbs` ones in text templates. Compiled once per process.
 *
 * Mail customers read is localised: `templates/<locale>/<name>.*.hbs`, looked up in the mail's
 * locale, then in the default locales (the mailbox's, the plan's); staff mail lives in
 * templates/ itself. A mailbox may have its own template directory, laid out the same way:
 * each file there replaces the shipped file of the same path, any other comes from
 * templates/. Two
 * helpers: `{{time at}}` writes a Date in the mail's zone and language (the `timeZone` and
 * `locale` of the data), `{{markdown text}}` (HTML only) an agent's light markdown as HTML.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
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

/**
 * Where template file `rel` (`de/acknowledgement.text.hbs`) is read from: the mailbox's own
 * directory when it has that file, else templates/; undefined when neither has it.
 */
function templateFile(rel: string, own?: string): string | undefined {
  if (own && existsSync(join(own, rel))) return join(own, rel);
  return existsSync(templateDir() + rel) ? templateDir() + rel : undefined;
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

/** The template at path `file`, compiled once per process. */
function compiled(file: string, escape: boolean): Handlebars.TemplateDelegate {
  setUpOnce();
  let tpl = cache.get(file);
  if (!tpl) {
    const source = readFileSync(file, 'utf8');
    tpl = escape
      ? html.compile(source, { strict: true })
      : text.compile(source, { noEscape: true, strict: true });
    cache.set(file, tpl);
  }
  return tpl;
}

const locales = new Map<string, string[]>();

/** Locale folders (`en`, `de`, …) of one template directory; read once per process. */
function localeFolders(dir: string): string[] {
  let found = locales.get(dir);
  if (!found) {
    found = existsSync(dir)
      ? readdirSync(dir).filter((f) => f !== 'partials' && statSync(join(dir, f)).isDirectory())
      : [];
    locales.set(dir, found);
  }
  return found;
}

/** The locales templates/ (and a mailbox's own directory, if given) have a folder for. */
export function templateLocales(own?: string): string[] {
  return [...new Set([...localeFolders(templateDir()), ...(own ? localeFolders(own) : [])])].sort();
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
 * The first of `locales` with template `name`, in the mailbox's own directory or in
 * templates/; none for staff mail (templates/ itself).
 */
function templateLocale(
  name: string,
  locales: readonly string[],
  own?: string,
): string | undefined {
  return locales.find((l) => templateFile(`${l}/${name}.text.hbs`, own));
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

/**
 * What is wrong with a mailbox's own template directory, for `incidesk check`: a file that
 * replaces nothing (a misspelt name is otherwise silently never used), and a file that does
 * not compile. Partials are not looked up there: they come from templates/partials/.
 */
export function ownTemplateProblems(own: string): string[] {
  const files = readdirSync(own, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.hbs'))
    .sort();
  return files.flatMap((rel) => {
    if (!existsSync(templateDir() + rel))
      return [`${join(own, rel)} replaces no template: templates/ has no ${rel}`];
    try {
      Handlebars.precompile(readFileSync(join(own, rel), 'utf8'), { strict: true });
      return [];
    } catch (err) {
      return [`${join(own, rel)} does not compile: ${(err as Error).message.split('\n')[0]}`];
    }
  });
}

export interface Rendered {
  text: string;
  /** Customer-facing mail has an HTML part; notifications to staff are plain text. */
  html?: string;
}

/**
 * Render template `name` with `data`. `data.locale` picks the localised template, falling
 * back to `defaultLocales` in order (the mailbox's, then the plan's), and, with
 * `data.timeZone`, how `{{time}}` writes times. `own`: the mailbox's template directory,
 * whose files replace the shipped ones of the same path.
 */
export function render(
  name: string,
  data: Record<string, unknown> & { locale?: string; timeZone?: string },
  defaultLocales: string | readonly string[] = 'en',
  own?: string,
): Rendered {
  const fallbacks = [defaultLocales].flat();
  const locale = templateLocale(name, [data.locale ?? fallbacks[0]!, ...fallbacks], own);
  const folder = locale ? `${locale}/` : '';
  // A template that fell back to a default locale writes its times in that language too.
  const view = locale ? { ...data, locale } : data;
  const textFile = `${folder}${name}.text.hbs`;
  const htmlFile = templateFile(`${folder}${name}.html.hbs`, own);
  return {
    // A missing text template is a bug of ours: reading it reports the path.
    text: compiled(templateFile(textFile, own) ?? templateDir() + textFile, false)(view),
    html: htmlFile ? compiled(htmlFile, true)(view) : undefined,
  };
}
