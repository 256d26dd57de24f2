/**
 * Agents write plain text with light markdown (paragraphs, lists, links, *emphasis*); the
 * customer's HTML part shows it as such. markdown-it with raw HTML off escapes whatever HTML
 * an agent (or a quoted customer) typed, and refuses javascript:/vbscript:/data: links.
 * Images are off too: a reply must not load pictures from elsewhere when it is opened.
 */
import MarkdownIt from 'markdown-it';

const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false });
md.disable(['image']);

/** Safe HTML for an agent's text. */
export function markdownToHtml(text: string): string {
  return md.render(text);
}
