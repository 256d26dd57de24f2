import { describe, expect, it } from 'vitest';
import { cleanSubject, localPrefix, subjectLine } from '../../src/domain/subject.js';
import { subjectIncident } from '../../src/domain/tokens.js';

describe('cleanSubject', () => {
  it.each([
    ['Printer on fire', 'Printer on fire'],
    ['Re: Printer on fire', 'Printer on fire'],
    ['RE: Re: re:Printer on fire', 'Printer on fire'],
    ['AW: Aw: WG: Drucker brennt', 'Drucker brennt'],
    ['SV: VS: Skrivaren brinner', 'Skrivaren brinner'],
    ['Antw: Printer', 'Printer'],
    ['Fwd: FW: Fw: fwd: Printer', 'Printer'],
    ['Re[2]: Re^3: Re(4): Printer', 'Printer'],
    ['Re : Printer', 'Printer'],
    ['Re： Printer', 'Printer'],
    ['Re: [INC-000002] Invoice 2026-11 charged twice', 'Invoice 2026-11 charged twice'],
    ['Re: Re: [INC-000002] Invoice 2026-11 charged twice', 'Invoice 2026-11 charged twice'],
    ['[INC-000004] Re: [inc-2] AW: Invoice', 'Invoice'],
    ['Question about [INC-000002] and [INC-7]', 'Question about and'],
    ['  Printer \t on\r\n fire  ', 'Printer on fire'],
    ['', ''],
    ['Re:', ''],
    ['[INC-000123]', ''],
  ])('%j → %j', (input, expected) => {
    expect(cleanSubject(input)).toBe(expected);
  });

  it('keeps words that merely start like a prefix', () => {
    expect(cleanSubject('Reset: password')).toBe('Reset: password');
    expect(cleanSubject('Svc down')).toBe('Svc down');
    expect(cleanSubject('Fwding rules: broken')).toBe('Fwding rules: broken');
    expect(cleanSubject('Renewal Re: contract')).toBe('Renewal Re: contract');
  });

  it('is idempotent', () => {
    for (const s of ['Re: AW: [INC-1] x', 'Fwd: y', 'z']) {
      expect(cleanSubject(cleanSubject(s))).toBe(cleanSubject(s));
    }
  });
});

describe('subjectLine', () => {
  it('puts our tag, and only ours, in front, with exactly one Re:', () => {
    expect(subjectLine(4, 'Re: [INC-000002] Invoice 2026-11 charged twice', 'Re')).toBe(
      '[INC-000004] Re: Invoice 2026-11 charged twice',
    );
    expect(subjectLine(4, 'Re: Re: [INC-000002] Invoice 2026-11 charged twice', 'Re')).toBe(
      '[INC-000004] Re: Invoice 2026-11 charged twice',
    );
  });

  it('gives staff mail one stable subject without prefix', () => {
    expect(subjectLine(123, 'Printer on fire')).toBe('[INC-000123] Printer on fire');
    expect(subjectLine(123, 'AW: [INC-000123] Printer on fire')).toBe(
      '[INC-000123] Printer on fire',
    );
  });

  it('says (no subject) when nothing is left', () => {
    expect(subjectLine(123, '')).toBe('[INC-000123] (no subject)');
    expect(subjectLine(123, ' Re: [INC-000123] ', 'Re')).toBe('[INC-000123] Re: (no subject)');
  });

  it('yields a subject that threads back to the incident', () => {
    expect(subjectIncident(subjectLine(5, 'Re: hello [INC-000999]', 'Re'))).toBe(5);
  });
});

describe('localPrefix', () => {
  it('writes the prefix as a mail client in the customer’s language does', () => {
    expect(localPrefix('Re', 'de')).toBe('AW');
    expect(localPrefix('Resolved', 'de-AT')).toBe('Gelöst');
    expect(localPrefix('Re', 'en')).toBe('Re');
    expect(localPrefix('Resolved', 'fr')).toBe('Resolved');
    expect(localPrefix('Re', undefined)).toBe('Re');
    // What we write, we also strip when it comes back.
    expect(cleanSubject(subjectLine(7, 'x', localPrefix('Re', 'de')))).toBe('x');
  });
});
