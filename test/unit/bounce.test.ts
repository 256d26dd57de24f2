import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import {
  addressIsUndeliverable,
  isDeliveryReport,
  isQmailBounce,
  parseDeliveryStatus,
  parseQmailBounce,
} from '../../src/domain/bounce.js';

const crlf = (s: string): string => s.replace(/\n/g, '\r\n');

const POSTFIX = `Reporting-MTA: dns; mx.example.test
X-Postfix-Queue-ID: 4F2B41C0A3
X-Postfix-Sender: rfc822; support@incidesk.test
Arrival-Date: Mon,  1 Jan 2024 10:00:00 +0000 (UTC)

Final-Recipient: rfc822; Nobody@Example.org
Original-Recipient: rfc822;Nobody@Example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.org
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>: Recipient address
    rejected: User unknown in virtual mailbox table
`;

const EXCHANGE = `Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com
Received-From-MTA: dns;mail.incidesk.test
Arrival-Date: Mon, 1 Jan 2024 10:00:00 +0000

Final-Recipient: rfc822;Ghost@Contoso.com
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient Ghost@contoso.com not found by SMTP address lookup
X-Display-Name: Ghost
`;

const DELAYED = `Reporting-MTA: dns; mx.example.test
Arrival-Date: Mon,  1 Jan 2024 10:00:00 +0000 (UTC)

Final-Recipient: rfc822; slow@example.org
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mx.example.org[192.0.2.1]:25: Connection
    timed out
Will-Retry-Until: Fri,  5 Jan 2024 10:00:00 +0000 (UTC)
`;

const ORIGINAL_HEADERS = `Return-Path: <support@incidesk.test>
Received: from app (localhost [127.0.0.1])
\tby mx.example.test (Postfix) with ESMTP id 4F2B41C0A3
From: Support <support@incidesk.test>
To: nobody@example.org
Subject: [INC-000042] Printer on fire
Message-ID: <INC-000042.ack-1.abcdefghij@incidesk.test>
Date: Mon, 1 Jan 2024 10:00:00 +0000
`;

describe('parseDeliveryStatus', () => {
  it('parses a Postfix hard bounce with a folded diagnostic', () => {
    expect(parseDeliveryStatus(POSTFIX, ORIGINAL_HEADERS)).toEqual({
      permanent: true,
      status: '5.1.1',
      recipients: ['nobody@example.org'],
      diagnostic:
        '550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table',
      originalMessageId: 'INC-000042.ack-1.abcdefghij@incidesk.test',
    });
  });

  it('parses the same report with CRLF line endings', () => {
    const r = parseDeliveryStatus(crlf(POSTFIX), crlf(ORIGINAL_HEADERS));
    expect(r?.permanent).toBe(true);
    expect(r?.recipients).toEqual(['nobody@example.org']);
    expect(r?.originalMessageId).toBe('INC-000042.ack-1.abcdefghij@incidesk.test');
  });

  it('parses an Exchange Online NDR (three-digit detail, no space after the type)', () => {
    const r = parseDeliveryStatus(EXCHANGE);
    expect(r).toEqual({
      permanent: true,
      status: '5.1.10',
      recipients: ['ghost@contoso.com'],
      diagnostic:
        '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient Ghost@contoso.com not found by SMTP address lookup',
    });
    expect(r).not.toHaveProperty('originalMessageId');
  });

  it('reports a delay as not permanent and still lists the recipient', () => {
    const r = parseDeliveryStatus(DELAYED);
    expect(r?.permanent).toBe(false);
    expect(r?.status).toBe('4.4.1');
    expect(r?.recipients).toEqual(['slow@example.org']);
    expect(r?.diagnostic).toMatch(/^connect to mx\.example\.org/);
  });

  it('lists only failed recipients when some were delivered or delayed', () => {
    const text = `Reporting-MTA: dns; mx.example.test

Final-Recipient: rfc822; ok@example.org
Action: delivered
Status: 2.0.0

Final-Recipient: rfc822; later@example.org
Action: delayed
Status: 4.2.2

Final-Recipient: rfc822; Gone@Example.org
Action: failed
Status: 5.2.1
Diagnostic-Code: smtp; 550 5.2.1 mailbox disabled

Final-Recipient: rfc822; <Also.Gone@Example.org>
Action: failed
Status: 5.1.1
`;
    const r = parseDeliveryStatus(text);
    expect(r?.permanent).toBe(true);
    expect(r?.recipients).toEqual(['gone@example.org', 'also.gone@example.org']);
    expect(r?.status).toBe('5.2.1');
    expect(r?.diagnostic).toBe('550 5.2.1 mailbox disabled');
  });

  it('treats Status 5.x.x as permanent even when Action is not "failed"', () => {
    const r = parseDeliveryStatus(`Reporting-MTA: dns; a.test

Final-Recipient: rfc822; x@example.org
Action: relayed
Status: 5.0.0 (permanent failure)
`);
    expect(r?.permanent).toBe(true);
    expect(r?.status).toBe('5.0.0');
  });

  it('treats Action failed as permanent even with a 4.x.x status (Postfix queue lifetime expired)', () => {
    const r = parseDeliveryStatus(`Reporting-MTA: dns; mx.example.test

Final-Recipient: rfc822; slow@example.org
Action: failed
Status: 4.4.7
Diagnostic-Code: X-Postfix; delivery temporarily suspended: connect to
    mx.example.org[192.0.2.1]:25: Connection timed out
`);
    expect(r?.permanent).toBe(true);
    expect(r?.status).toBe('4.4.7');
    expect(r?.recipients).toEqual(['slow@example.org']);
    // The message failed, but the address was never refused: it is not written off.
    expect(addressIsUndeliverable(r!)).toBe(false);
  });

  it('treats Action failed as permanent and derives a status when Status is missing', () => {
    const r = parseDeliveryStatus(`Reporting-MTA: dns; a.test

Final-Recipient: rfc822; x@example.org
Action: FAILED
`);
    expect(r?.permanent).toBe(true);
    expect(r?.status).toBe('5.0.0');
    expect(r?.diagnostic).toBeUndefined();
    expect(addressIsUndeliverable(r!)).toBe(true);
  });

  it('prefers Original-Recipient (the address we sent to) over the aliased Final-Recipient', () => {
    const r = parseDeliveryStatus(`Reporting-MTA: dns; a.test

Final-Recipient: rfc822; jdoe@internal.example.org
Original-Recipient: rfc822; John.Doe@example.org
Action: failed
Status: 5.2.2
`);
    expect(r?.recipients).toEqual(['john.doe@example.org']);
  });

  it('falls back to Final-Recipient when Original-Recipient is not a mail address', () => {
    const r = parseDeliveryStatus(`Final-Recipient: rfc822; a@example.org
Original-Recipient: x400; /G=a/S=b/
Action: failed
Status: 5.1.1
`);
    expect(r?.recipients).toEqual(['a@example.org']);
  });

  it('accepts a report without a per-message block and with blank lines around', () => {
    const r = parseDeliveryStatus(
      `\n\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\n\n`,
    );
    expect(r?.recipients).toEqual(['a@example.org']);
  });

  it('returns null when no recipient is named', () => {
    expect(parseDeliveryStatus('')).toBeNull();
    expect(parseDeliveryStatus('Reporting-MTA: dns; a.test\nArrival-Date: today\n')).toBeNull();
    expect(parseDeliveryStatus('This is not a report at all.\n\nJust text.')).toBeNull();
    expect(
      parseDeliveryStatus('Final-Recipient: rfc822; not-an-address\nAction: failed\n'),
    ).toBeNull();
  });

  describe('original Message-ID', () => {
    it('reads it from the headers of a full message/rfc822 part, ignoring the body', () => {
      const r = parseDeliveryStatus(
        EXCHANGE,
        'From: a@b.test\nSubject: hi\n\nMessage-ID: <body-line@not.header>\n',
      );
      expect(r?.originalMessageId).toBeUndefined();
      const r2 = parseDeliveryStatus(EXCHANGE, 'From: a@b.test\nMessage-Id: <m1@b.test>\n\nbody\n');
      expect(r2?.originalMessageId).toBe('m1@b.test');
    });

    it('unfolds a folded Message-ID header and tolerates leading blank lines', () => {
      const r = parseDeliveryStatus(
        EXCHANGE,
        '\r\nFrom: a@b.test\r\nMessage-ID:\r\n <folded@b.test>\r\n',
      );
      expect(r?.originalMessageId).toBe('folded@b.test');
    });

    it('accepts an id without angle brackets', () => {
      expect(parseDeliveryStatus(EXCHANGE, 'MESSAGE-ID: bare@b.test\n')?.originalMessageId).toBe(
        'bare@b.test',
      );
    });

    it('is absent when the headers have none', () => {
      expect(parseDeliveryStatus(EXCHANGE, 'From: a@b.test\n')).not.toHaveProperty(
        'originalMessageId',
      );
    });
  });
});

describe('isDeliveryReport', () => {
  it.each([
    'multipart/report; report-type=delivery-status; boundary="abc"',
    'multipart/report; boundary="x;y"; report-type="delivery-status"',
    'Multipart/Report; Report-Type=Delivery-Status',
    'multipart/report;report-type = delivery-status',
    'multipart/report;\r\n\treport-type=delivery-status;\r\n\tboundary=b1',
  ])('true for %s', (ct) => {
    expect(isDeliveryReport(ct)).toBe(true);
  });

  it.each([
    undefined,
    '',
    'multipart/mixed; report-type=delivery-status',
    'multipart/report; report-type=disposition-notification',
    'multipart/report; report-type=delivery-status-extended',
    'multipart/report',
    'multipart/report; boundary="report-type=delivery-status"',
    'text/plain',
  ])('false for %s', (ct) => {
    expect(isDeliveryReport(ct)).toBe(false);
  });
});

/** The text body of fixture 48 (a qmail bounce has no MIME: the body is everything after the header). */
const QMAIL_RAW = readFileSync(
  new URL('../fixtures/hostile/48-bounce-qmail-plaintext.eml', import.meta.url),
  'utf8',
);
const QMAIL_FIXTURE_BODY = QMAIL_RAW.slice(QMAIL_RAW.indexOf('\r\n\r\n') + 4);

const QMAIL_INTRO = `Hi. This is the qmail-send program at mail.example.org.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.
`;

const COPY = `--- Below this line is a copy of the message.

Return-Path: <support@incidesk.test>
Received: (qmail 12343 invoked from network); 1 Jan 2024 10:00:00 -0000
From: Support <support@incidesk.test>
To: someone@example.org
Subject: [INC-000042] Printer on fire
Message-ID: <INC-000042.ack-1.abcdefghij@incidesk.test>
Date: Mon, 1 Jan 2024 10:00:00 +0000

Hello,

we have received your report.
`;

/** A QSBMF bounce with the given recipient paragraphs (each "<addr>:\\ntext…"). */
const qmail = (...paragraphs: string[]): string =>
  `${QMAIL_INTRO}\n${paragraphs.join('\n\n')}\n\n${COPY}`;

const CUSTOMER_MENTIONING_QMAIL = `Hi,

since yesterday our qmail server rejects every reply from you. The qmail-send program at
mail.example.org says "Sorry, no mailbox here by that name. (#5.1.1)" for
<someone@example.org>:

--- Below this line is a copy of the message.

Could you check your side? Thanks, Jo
`;

describe('isQmailBounce', () => {
  it('is true for the body of the qmail fixture (CRLF, as received)', () => {
    expect(QMAIL_FIXTURE_BODY.startsWith('Hi. This is the qmail-send program')).toBe(true);
    expect(isQmailBounce(QMAIL_FIXTURE_BODY)).toBe(true);
  });

  it('is true for the fixture body with LF or bare CR line endings', () => {
    expect(isQmailBounce(QMAIL_FIXTURE_BODY.replace(/\r\n/g, '\n'))).toBe(true);
    expect(isQmailBounce(QMAIL_FIXTURE_BODY.replace(/\r\n/g, '\r'))).toBe(true);
  });

  it('is true for typical qmail wording', () => {
    expect(
      isQmailBounce(qmail('<nobody@example.org>:\nSorry, no mailbox here by that name. (#5.1.1)')),
    ).toBe(true);
  });

  it('is true with leading blank lines and a break line without its final dot', () => {
    const text = `\n\n${qmail('<a@example.org>:\nNo such user. (#5.1.1)')}`.replace(
      'a copy of the message.',
      'a copy of the message',
    );
    expect(isQmailBounce(text)).toBe(true);
  });

  it.each([
    '--- Below this line is the original message header.',
    '--- Enclosed are the original headers of the message.',
  ])('is true with the break line "%s"', (breakLine) => {
    const text = qmail('<a@example.org>:\nNo such user. (#5.1.1)').replace(
      '--- Below this line is a copy of the message.',
      breakLine,
    );
    expect(isQmailBounce(text)).toBe(true);
  });

  it('is false for an ordinary customer message that mentions qmail', () => {
    expect(isQmailBounce(CUSTOMER_MENTIONING_QMAIL)).toBe(false);
    expect(isQmailBounce('Do you support qmail? We run qmail-send at mail.example.org.')).toBe(
      false,
    );
  });

  it('is false for a customer forwarding a qmail bounce under their own words', () => {
    expect(isQmailBounce(`Hi team, I got this when writing to you:\n\n${QMAIL_FIXTURE_BODY}`)).toBe(
      false,
    );
  });

  it('is false without the break line', () => {
    const text = `${QMAIL_INTRO}\n<a@example.org>:\nNo such user. (#5.1.1)\n`;
    expect(isQmailBounce(text)).toBe(false);
  });

  it('is false when the break line is only quoted inside another line', () => {
    const text = `${QMAIL_INTRO}\n<a@example.org>:\nNo such user.\n\nSee "--- Below this line is a copy of the message." below.\n`;
    expect(isQmailBounce(text)).toBe(false);
  });

  it('is false without a recipient paragraph before the break line', () => {
    expect(isQmailBounce(`${QMAIL_INTRO}\n${COPY}`)).toBe(false);
    // A recipient line inside the returned copy does not count.
    expect(isQmailBounce(`${QMAIL_INTRO}\n${COPY}\n<a@example.org>:\n`)).toBe(false);
    // Nor does a "recipient" without a domain, or one with more text on its line.
    expect(isQmailBounce(qmail('<postmaster>:\nNo such user. (#5.1.1)'))).toBe(false);
    expect(isQmailBounce(qmail('<a@example.org>: No such user. (#5.1.1)'))).toBe(false);
  });

  it('is false for empty input and for an RFC 3464 report', () => {
    expect(isQmailBounce(undefined)).toBe(false);
    expect(isQmailBounce('')).toBe(false);
    expect(isQmailBounce(POSTFIX)).toBe(false);
  });
});

describe('parseQmailBounce', () => {
  it('reads the qmail fixture: recipient, permanent 5.1.1, diagnostic and original Message-ID', () => {
    expect(parseQmailBounce(QMAIL_FIXTURE_BODY)).toEqual({
      permanent: true,
      status: '5.1.1',
      recipients: ['someone@example.org'],
      diagnostic: 'Sorry, no mailbox here by that name. (#5.1.1)',
      originalMessageId: 'INC-002053.ack-1.p9o8i7u6y5@example.test',
    });
  });

  it('reads the fixture the same with LF line endings', () => {
    expect(parseQmailBounce(QMAIL_FIXTURE_BODY.replace(/\r\n/g, '\n'))).toEqual(
      parseQmailBounce(QMAIL_FIXTURE_BODY),
    );
  });

  it('lower-cases recipients, lists each once and keeps their order', () => {
    const r = parseQmailBounce(
      qmail(
        '<Gone@Example.ORG>:\nSorry, no mailbox here by that name. (#5.1.1)',
        '<Also.Gone@Example.org>:\nThis address no longer accepts mail. (#5.1.6)',
        '<gone@example.org>:\nSorry, no mailbox here by that name. (#5.1.1)',
      ),
    );
    expect(r?.recipients).toEqual(['gone@example.org', 'also.gone@example.org']);
    expect(r?.permanent).toBe(true);
    expect(r?.status).toBe('5.1.1');
  });

  it('reads a temporary status "(#4.4.1)" as not permanent and still lists the recipient', () => {
    const r = parseQmailBounce(
      qmail(
        "<Slow@Example.org>:\nSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\nI'm not going to try again; this message has been in the queue too long.",
      ),
    );
    expect(r).toEqual({
      permanent: false,
      status: '4.4.1',
      recipients: ['slow@example.org'],
      diagnostic:
        "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1) I'm not going to try again; this message has been in the queue too long.",
      originalMessageId: 'INC-000042.ack-1.abcdefghij@incidesk.test',
    });
  });

  it('lists only the permanently failed recipients when some failed only temporarily', () => {
    const r = parseQmailBounce(
      qmail(
        '<later@example.org>:\nConnection refused. (#4.4.1)',
        '<gone@example.org>:\nSorry, no mailbox here by that name. (#5.1.1)',
        '<full@example.org>:\nRemote host said: 552 5.2.2 Mailbox full (#5.2.2)',
      ),
    );
    expect(r?.permanent).toBe(true);
    expect(r?.recipients).toEqual(['gone@example.org', 'full@example.org']);
    expect(r?.status).toBe('5.1.1');
    expect(r?.diagnostic).toBe('Sorry, no mailbox here by that name. (#5.1.1)');
  });

  it('takes the status of a remote refusal from the remote text', () => {
    const r = parseQmailBounce(
      qmail(
        '<nobody@example.org>:\n192.0.2.1 does not like recipient.\nRemote host said: 550 5.1.1 <nobody@example.org>: Recipient address rejected\nGiving up on 192.0.2.1.',
      ),
    );
    expect(r?.status).toBe('5.1.1');
    expect(r?.permanent).toBe(true);
    expect(r?.diagnostic).toBe(
      '192.0.2.1 does not like recipient. Remote host said: 550 5.1.1 <nobody@example.org>: Recipient address rejected Giving up on 192.0.2.1.',
    );
  });

  it('treats a failure paragraph without any status as permanent (5.0.0) and tidies its white space', () => {
    const r = parseQmailBounce(
      qmail('<a@example.org>:\nThis address  no longer\n   accepts mail.\t'),
    );
    expect(r?.permanent).toBe(true);
    expect(r?.status).toBe('5.0.0');
    expect(r?.diagnostic).toBe('This address no longer accepts mail.');
  });

  it('leaves out the diagnostic when the paragraph has no text', () => {
    const r = parseQmailBounce(qmail('<a@example.org>:'));
    expect(r?.recipients).toEqual(['a@example.org']);
    expect(r?.status).toBe('5.0.0');
    expect(r).not.toHaveProperty('diagnostic');
  });

  describe('original Message-ID', () => {
    it('comes from the header of the copied message, not from its body', () => {
      const text = qmail('<a@example.org>:\nNo such user. (#5.1.1)').replace(
        'Message-ID: <INC-000042.ack-1.abcdefghij@incidesk.test>\n',
        '',
      );
      const withBodyId = text.replace('we have received', 'Message-ID: <in-body@x.test>\nwe have');
      const r = parseQmailBounce(withBodyId);
      expect(r?.recipients).toEqual(['a@example.org']);
      expect(r).not.toHaveProperty('originalMessageId');
    });

    it('is not taken from the bounce text before the break line', () => {
      const text = `${QMAIL_INTRO}\n<a@example.org>:\nNo such user. (#5.1.1)\nMessage-ID: <wrong@x.test>\n\n--- Below this line is a copy of the message.\n\nFrom: a@b.test\nMessage-Id: <right@x.test>\n\nbody\n`;
      expect(parseQmailBounce(text)?.originalMessageId).toBe('right@x.test');
    });

    it('is read from a folded header and from the "original message header" variant', () => {
      const text = `${QMAIL_INTRO}\n<a@example.org>:\nNo such user. (#5.1.1)\n\n--- Below this line is the original message header.\n\nFrom: a@b.test\r\nMessage-ID:\r\n\t<folded@x.test>\r\nSubject: hi\r\n`;
      expect(parseQmailBounce(text)?.originalMessageId).toBe('folded@x.test');
    });
  });

  it('returns null for anything that is not a qmail bounce', () => {
    expect(parseQmailBounce(undefined)).toBeNull();
    expect(parseQmailBounce('')).toBeNull();
    expect(parseQmailBounce(CUSTOMER_MENTIONING_QMAIL)).toBeNull();
    expect(parseQmailBounce(POSTFIX)).toBeNull();
    expect(parseQmailBounce(`${QMAIL_INTRO}\n${COPY}`)).toBeNull();
    expect(parseQmailBounce(`Hi team, see below.\n\n${QMAIL_FIXTURE_BODY}`)).toBeNull();
  });
});

describe('status codes next to IP addresses', () => {
  it('does not read the last parts of an IP address as the status', () => {
    const body = [
      'Hi. This is the qmail-send program at mail.example.org.',
      "I'm afraid I wasn't able to deliver your message to the following addresses.",
      "This is a permanent error; I've given up. Sorry it didn't work out.",
      '',
      '<Gone@Example.org>:',
      'Connected to 10.4.3.2 but sender was rejected.',
      'Remote host said: 550 5.1.1 <gone@example.org>: Recipient address rejected',
      '',
      '--- Below this line is a copy of the message.',
      '',
      'Message-ID: <x@y>',
      '',
    ].join('\n');
    expect(parseQmailBounce(body)).toMatchObject({ permanent: true, status: '5.1.1' });
    const dsn = parseDeliveryStatus(
      'Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nDiagnostic-Code: smtp; host 10.5.4.2 said: 450 4.2.0 try later\n',
    );
    expect(dsn?.status).toBe('4.2.0');
  });
});
