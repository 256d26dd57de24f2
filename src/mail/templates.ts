/**
 * Handlebars templates from templates/: `<name>.text.hbs` (plain text, not HTML-escaped) and
 * `<name>.html.hbs` (escaped). Compiled once per process.
 */
import { existsSync, readFileSync } from 'node:fs';
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

function compiled(file: string, escape: boolean): Handlebars.TemplateDelegate {
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
