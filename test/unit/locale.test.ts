import { describe, expect, it } from 'vitest';
import { chooseLocale, messageLanguages } from '../../src/domain/locale.js';
import { headerBag } from '../../src/domain/headers.js';

const headers = (...lines: string[]) =>
  headerBag(lines.map((line) => ({ key: line.slice(0, line.indexOf(':')).toLowerCase(), line })));

describe('messageLanguages', () => {
  it('takes Content-Language first, then Accept-Language by q', () => {
    expect(
      messageLanguages(
        headers('Content-Language: de-AT, en', 'Accept-Language: fr;q=0.5, nl, it;q=0.8'),
      ),
    ).toEqual(['de-AT', 'en', 'nl', 'it', 'fr']);
  });

  it('ignores what is not a language tag and languages refused with q=0', () => {
    expect(
      messageLanguages(headers('Content-Language: <script>, 12', 'Accept-Language: de;q=0')),
    ).toEqual([]);
    expect(messageLanguages(headers('X-Accept-Language: sv'))).toEqual(['sv']);
    expect(messageLanguages(headers('Subject: hi'))).toEqual([]);
  });
});

describe('chooseLocale', () => {
  const available = ['de', 'en'];

  it('prefers the plan’s customer record, as the plan says', () => {
    expect(chooseLocale({ customer: 'de', message: ['en'] }, available, 'en')).toBe('de');
    expect(chooseLocale({ customer: 'fr', message: ['de'] }, available, 'en')).toBe('fr');
  });

  it('else the first message language a template folder serves, by primary subtag too', () => {
    expect(chooseLocale({ message: ['DE-at'] }, available, 'en')).toBe('de');
    expect(chooseLocale({ message: ['fr', 'de'] }, available, 'en')).toBe('de');
  });

  it('else the default', () => {
    expect(chooseLocale({ message: ['fr'] }, available, 'en')).toBe('en');
    expect(chooseLocale({ message: [] }, available, 'de')).toBe('de');
  });
});
