import { describe, it, expect } from 'vitest';
import { stripQuoted } from '../../src/domain/quotes.js';

const lines = (...l: string[]): string => l.join('\n');

describe('stripQuoted', () => {
  describe('top-posted replies', () => {
    it('Gmail: cuts at "On … <addr> wrote:"', () => {
      const body = lines(
        'The printer is still on fire.',
        '',
        'On Mon, Jan 1, 2024 at 10:00 AM Support <support@example.test> wrote:',
        '',
        '> We have opened INC-000123 for you.',
        '>',
        '> Kind regards,',
      );
      expect(stripQuoted(body)).toBe('The printer is still on fire.');
    });

    it('Gmail: the attribution wrapped across two lines', () => {
      const body = lines(
        'Thanks, that fixed it.',
        '',
        'On Tue, Jan 2, 2024 at 9:41 AM Incidesk Support Desk for Example Corporation <',
        'support@example.test> wrote:',
        '',
        '> Please try turning it off and on again.',
      );
      expect(stripQuoted(body)).toBe('Thanks, that fixed it.');
    });

    it('Gmail: wrapped with "wrote:" alone on the second line', () => {
      const body = lines(
        'Done.',
        'On Tue, Jan 2, 2024 at 9:41 AM Support <support@example.test>',
        'wrote:',
        '> hi',
      );
      expect(stripQuoted(body)).toBe('Done.');
    });

    it('Outlook: cuts at -----Original Message-----', () => {
      const body = lines(
        'Please escalate.',
        '',
        '-----Original Message-----',
        'From: Support <support@example.test>',
        'Sent: Monday, January 1, 2024 10:00 AM',
        'To: Alice <alice@example.test>',
        'Subject: [INC-000123] Printer on fire',
        '',
        'We have opened an incident.',
      );
      expect(stripQuoted(body)).toBe('Please escalate.');
    });

    it('Outlook desktop: underscore rule followed by From:', () => {
      const body = lines(
        'Any update?',
        '',
        'Alice',
        '',
        '________________________________',
        'From: Support <support@example.test>',
        'Sent: Monday, January 1, 2024 10:00',
        'To: Alice',
        'Subject: [INC-000123] Printer on fire',
        '',
        'We have opened an incident.',
      );
      expect(stripQuoted(body)).toBe('Any update?\n\nAlice');
    });

    it('Outlook/Exchange: From/Sent/To/Subject header block without a rule', () => {
      const body = lines(
        'Second floor too.',
        '',
        'From: Support <support@example.test>',
        'Sent: Monday, January 1, 2024 10:00 AM',
        'To: Alice <alice@example.test>',
        'Cc: Bob <bob@example.test>',
        'Subject: RE: [INC-000123] Printer on fire',
        '',
        'Old text.',
      );
      expect(stripQuoted(body)).toBe('Second floor too.');
    });

    it('Outlook: bold-markdown header block from HTML conversion and Date: instead of Sent:', () => {
      const body = lines(
        'Yes.',
        '',
        '*From:* Support <support@example.test>',
        '*Date:* Monday',
        '*Subject:* x',
        'old',
      );
      expect(stripQuoted(body)).toBe('Yes.');
    });

    it('does not cut at a lone From: line that is not a header block', () => {
      const body = lines(
        'From: the second floor, smoke is visible.',
        'To be clear: it is bad.',
        'Please hurry.',
      );
      expect(stripQuoted(body)).toBe(body);
    });

    it('Apple Mail: "On <date>, at <time>, <name> <addr> wrote:"', () => {
      const body = lines(
        'Fixed now, thanks!',
        '',
        'Sent from my iPhone',
        '',
        'On Jan 2, 2024, at 10:15, Support <support@example.test> wrote:',
        '',
        '> Did that help?',
      );
      expect(stripQuoted(body)).toBe('Fixed now, thanks!\n\nSent from my iPhone');
    });

    it('iOS Mail: the attribution itself is quoted', () => {
      const body = lines(
        'Still broken.',
        '',
        'Sent from my iPhone',
        '',
        '> On Jan 2, 2024, at 10:15, Support <support@example.test> wrote:',
        '> ',
        '> Did that help?',
      );
      expect(stripQuoted(body)).toBe('Still broken.\n\nSent from my iPhone');
    });

    it('Thunderbird: "On 1/2/24 10:00, Name wrote:" without an address', () => {
      const body = lines('Top post.', '', 'On 1/2/24 10:00, Support Desk wrote:', '> old');
      expect(stripQuoted(body)).toBe('Top post.');
    });

    it.each([
      ['German', 'Am 02.01.2024 um 10:00 schrieb Support <support@example.test>:'],
      [
        'German (Gmail)',
        'Am Di., 2. Jan. 2024 um 10:00 Uhr schrieb Support <support@example.test>:',
      ],
      ['French', 'Le mar. 2 janv. 2024 à 10:00, Support <support@example.test> a écrit :'],
      ['French (nbsp)', 'Le 2 janv. 2024 à 10:00, Support <support@example.test> a écrit\u00a0:'],
      ['Spanish', 'El mar, 2 ene 2024 a las 10:00, Support (<support@example.test>) escribió:'],
    ])('%s attribution', (_name, attribution) => {
      const body = lines('Neue Info.', '', attribution, '', '> alt');
      expect(stripQuoted(body)).toBe('Neue Info.');
    });

    it('German Outlook header block (Von/Gesendet/An/Betreff)', () => {
      const body = lines(
        'Bitte eskalieren.',
        '',
        'Von: Support <support@example.test>',
        'Gesendet: Montag, 1. Januar 2024 10:00',
        'An: Alice',
        'Betreff: [INC-000123] Drucker brennt',
        '',
        'alt',
      );
      expect(stripQuoted(body)).toBe('Bitte eskalieren.');
    });

    it('cuts at the FIRST reply header', () => {
      const body = lines(
        'new',
        'On Mon, Jan 1, 2024 at 10:00 AM B <b@x.test> wrote:',
        '> middle',
        'On Sun, Dec 31, 2023 at 10:00 AM C <c@x.test> wrote:',
        '> oldest',
      );
      expect(stripQuoted(body)).toBe('new');
    });

    it('handles CRLF input', () => {
      const body =
        'Reply here.\r\n\r\nOn Mon, Jan 1, 2024 at 10:00 AM S <s@x.test> wrote:\r\n> old\r\n';
      expect(stripQuoted(body)).toBe('Reply here.');
    });
  });

  describe('quoted blocks', () => {
    it('drops a trailing > block without attribution', () => {
      expect(stripQuoted(lines('Thanks', '', '> old line 1', '> old line 2', '>'))).toBe('Thanks');
    });

    it('keeps interleaved quotes that are followed by new text', () => {
      const body = lines(
        'On 1/2/24 10:00, Support Desk wrote:',
        '> Is the printer on fire?',
        '',
        'Yes, very much.',
        '',
        '> Did you call someone?',
        '',
        'The fire brigade is here.',
        '',
        '> Anything else?',
        '> Regards, Support',
      );
      expect(stripQuoted(body)).toBe(
        lines(
          'On 1/2/24 10:00, Support Desk wrote:',
          '> Is the printer on fire?',
          '',
          'Yes, very much.',
          '',
          '> Did you call someone?',
          '',
          'The fire brigade is here.',
        ),
      );
    });

    it('keeps a bottom-posted reply below the attribution and quote', () => {
      const body = lines(
        'On Mon, Jan 1, 2024 at 10:00 AM S <s@x.test> wrote:',
        '> old',
        '',
        'My answer.',
      );
      expect(stripQuoted(body)).toBe(body);
    });

    it('returns "" when everything is quoted', () => {
      expect(stripQuoted(lines('> a', '> b'))).toBe('');
      expect(
        stripQuoted(lines('On Mon, Jan 1, 2024 at 10:00 AM S <s@x.test> wrote:', '', '> a')),
      ).toBe('');
      expect(stripQuoted('')).toBe('');
      expect(stripQuoted('\n  \n\t\n')).toBe('');
    });

    it('treats indented ">" as quoted too', () => {
      expect(stripQuoted(lines('ok', '  > quoted'))).toBe('ok');
    });
  });

  describe('signatures', () => {
    it('drops a trailing signature after "-- "', () => {
      expect(stripQuoted(lines('Please help.', '', '-- ', 'Alice Example', 'ACME Corp'))).toBe(
        'Please help.',
      );
    });

    it('drops a trailing signature after "--" without the space', () => {
      expect(stripQuoted(lines('Please help.', '--', 'Alice'))).toBe('Please help.');
    });

    it('Thunderbird top-post: signature then attribution', () => {
      const body = lines(
        'answer',
        '',
        '-- ',
        'Alice',
        '',
        'On 1/2/24 10:00, Support Desk wrote:',
        '> question',
      );
      expect(stripQuoted(body)).toBe('answer');
    });

    it('does not treat "---" or "-- text" as a signature delimiter', () => {
      expect(stripQuoted(lines('a', '---', 'b'))).toBe('a\n---\nb');
      expect(stripQuoted(lines('a', '-- not a sig', 'b'))).toBe('a\n-- not a sig\nb');
    });

    it('ignores a quoted signature delimiter inside interleaved text', () => {
      const body = lines('> q', '> --', '> Support', 'answer');
      expect(stripQuoted(body)).toBe(body);
      expect(stripQuoted(lines('> q', '> -- ', '> Support', 'answer'))).toBe(body);
    });

    it('returns the signature rather than "" when it is the only new text', () => {
      expect(stripQuoted(lines('-- ', 'Alice', '', '> old'))).toBe('--\nAlice');
    });
  });

  describe('no false cuts', () => {
    it('keeps prose that starts with "On" and ends with "wrote:" without a date or address', () => {
      const body = lines('Status:', 'On reflection, the engineer wrote:', 'it was the fuser.');
      expect(stripQuoted(body)).toBe(body);
    });

    it('keeps two prose lines that only look like a wrapped attribution (no address)', () => {
      const body = lines(
        'Update:',
        'On Monday at 10 the printer',
        'and the fax both wrote:',
        'PC LOAD LETTER',
      );
      expect(stripQuoted(body)).toBe(body);
    });

    it('keeps an underscore rule that is not followed by From:', () => {
      const body = lines('Steps taken:', '______________________________', 'Rebooted the printer.');
      expect(stripQuoted(body)).toBe(body);
    });

    it('keeps a From:/To:/Subject: block that has no Sent:/Date: line', () => {
      const body = lines(
        'Please route this:',
        'From: billing team',
        'To: finance',
        'Subject: budget overrun',
      );
      expect(stripQuoted(body)).toBe(body);
    });

    it('keeps a forwarded message below a forward marker', () => {
      const body = lines(
        'Customer complaint below.',
        '',
        '---------- Forwarded message ---------',
        'From: Carol <carol@customer.test>',
        'Date: Mon, Jan 1, 2024 at 9:00 AM',
        'Subject: Printer on fire',
        'To: <alice@example.test>',
        '',
        'Our printer is on fire.',
      );
      expect(stripQuoted(body)).toBe(body);
    });

    it('never returns "" for a bare forward (headers at the top)', () => {
      const body = lines(
        '-----Original Message-----',
        'From: Carol <carol@customer.test>',
        'Sent: Monday',
        'To: alice@example.test',
        'Subject: Printer on fire',
        '',
        'Our printer is on fire.',
      );
      expect(stripQuoted(body)).toBe(body);
    });

    it('trims trailing whitespace and blank lines, and leading blank lines', () => {
      expect(stripQuoted('\n\n  Hello   \nworld\t\n\n\n')).toBe('  Hello\nworld');
    });

    it('returns plain text unchanged', () => {
      const body = 'The printer on floor 2 is on fire.\n\nPlease send help.';
      expect(stripQuoted(body)).toBe(body);
    });
  });
});
