import { describe, expect, it } from 'vitest';
import {
  likelyDuplicates,
  normaliseSubject,
  possibleOutage,
  subjectSimilarity,
} from '../../src/domain/similarity.js';

describe('normaliseSubject', () => {
  it('strips reply and forward prefixes, bracket tags, case and punctuation', () => {
    expect(normaliseSubject('Re: Fwd: [INC-000012] VPN   DOWN!!')).toBe('vpn down');
    expect(normaliseSubject('AW: WG: RE[2]: Printer, jammed (again)')).toBe('printer jammed again');
    expect(normaliseSubject('[EXTERNAL] Re: Login fails?')).toBe('login fails');
    expect(normaliseSubject('Ré: café ouvert')).toBe('ré café ouvert');
  });
  it('keeps words that merely start like a prefix', () => {
    expect(normaliseSubject('Reset password')).toBe('reset password');
    expect(normaliseSubject('Fwding rules broken')).toBe('fwding rules broken');
  });
});

describe('subjectSimilarity', () => {
  it('is 1 for the same words however decorated', () => {
    expect(subjectSimilarity('VPN down', 'Re: [INC-000003] vpn DOWN.')).toBe(1);
  });
  it('ignores stop words and word order', () => {
    expect(subjectSimilarity('The VPN is down', 'down: VPN')).toBe(1);
  });
  it('scores a longer rewording of the same problem high, unrelated subjects low', () => {
    expect(subjectSimilarity('VPN down', 'VPN down for the whole office')).toBeGreaterThanOrEqual(
      0.6,
    );
    expect(subjectSimilarity('VPN down', 'Invoice question')).toBe(0);
    expect(subjectSimilarity('Printer jammed', 'VPN jammed in office')).toBeLessThan(0.6);
  });
  it('is symmetric and 0 for subjects without words', () => {
    expect(subjectSimilarity('a b c', 'b c d')).toBe(subjectSimilarity('b c d', 'a b c'));
    expect(subjectSimilarity('', 'VPN down')).toBe(0);
    expect(subjectSimilarity('Re: [INC-1]', 'Re: [INC-1]')).toBe(0);
  });
});

describe('likelyDuplicates', () => {
  const me = { number: 9, subject: 'Re: VPN down', customer: 'Cora@BigCorp.example' };
  it('finds the same customer’s similar open incidents, most similar first', () => {
    expect(
      likelyDuplicates(
        me,
        [
          {
            number: 3,
            subject: 'VPN down for everyone in the office',
            customer: 'cora@bigcorp.example',
          },
          { number: 5, subject: 'VPN down', customer: 'cora@bigcorp.example' },
          { number: 6, subject: 'VPN down', customer: 'dan@other.example' },
          { number: 7, subject: 'Invoice', customer: 'cora@bigcorp.example' },
          { number: 9, subject: 'VPN down', customer: 'cora@bigcorp.example' },
        ],
        0.6,
      ),
    ).toEqual([5, 3]);
  });
  it('finds nothing below the threshold', () => {
    expect(
      likelyDuplicates(me, [{ number: 1, subject: 'VPN slow', customer: me.customer }], 0.6),
    ).toEqual([]);
  });
});

describe('possibleOutage', () => {
  const me = { number: 10, subject: 'Website down', customer: 'a@x.example' };
  it('needs enough distinct customers with similar subjects', () => {
    const recent = [
      { number: 4, subject: 'website is down!', customer: 'b@y.example' },
      { number: 7, subject: 'Re: Website down', customer: 'B@y.example' },
      { number: 8, subject: 'Invoice', customer: 'c@z.example' },
    ];
    expect(possibleOutage(me, recent, 0.6, 3)).toBeNull();
    expect(possibleOutage(me, recent, 0.6, 2)).toEqual([4, 7, 10]);
    expect(
      possibleOutage(
        me,
        [...recent, { number: 9, subject: 'Website down again', customer: 'c@z.example' }],
        0.5,
        3,
      ),
    ).toEqual([4, 7, 9, 10]);
  });
  it('does not count the same customer’s other reports as other customers', () => {
    expect(
      possibleOutage(me, [{ number: 2, subject: 'Website down', customer: 'a@x.example' }], 0.6, 2),
    ).toBeNull();
  });
});
