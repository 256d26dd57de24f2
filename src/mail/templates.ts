/**
 * Handlebars templates from templates/: `<name>.text.hbs` (plain text, not HTML-escaped) and
 * `<name>.html.hbs` (escaped). Partials live in templates/partials/ with the same suffixes and
 * are used by their base name (`{{> digest-table}}`): `.html.hbs` ones in HTML templates,
 * `.text.hbs` ones in text templates. Compiled once per process.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

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
let partialsLoaded = false;

function registerPartials(): void {
  if (partialsLoaded) return;
  partialsLoaded = true;
  const dir = `${templateDir()}partials/`;
  if (!existsSync(dir)) return;
  for (const file of readdirSync(dir)) {
    const m = /^(.+)\.(html|text)\.hbs$/.exec(file);
    if (!m) continue;
    (m[2] === 'html' ? html : text).registerPartial(m[1]!, readFileSync(dir + file, 'utf8'));
  }
}

function compiled(file: string, escape: boolean): Handlebars.TemplateDelegate {
  registerPartials();
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

export interface Rendered {
  text: string;
  /** Only customer-facing mail has an HTML part; notifications to staff are plain text. */
  html?: string;
}

export function render(name: string, data: Record<string, unknown>): Rendered {
  const htmlFile = `${name}.html.hbs`;
  return {
    text: compiled(`${name}.text.hbs`, false)(data),
    html: existsSync(templateDir() + htmlFile) ? compiled(htmlFile, true)(data) : undefined,
  };
}
