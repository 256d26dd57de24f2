import { describe, it, expect } from 'vitest';
import { isDeliveryReport, parseDeliveryStatus } from '../../src/domain/bounce.js';

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
  });

  it('treats Action failed as permanent and derives a status when Status is missing', () => {
    const r = parseDeliveryStatus(`Reporting-MTA: dns; a.test

Final-Recipient: rfc822; x@example.org
Action: FAILED
`);
    expect(r?.permanent).toBe(true);
    expect(r?.status).toBe('5.0.0');
    expect(r?.diagnostic).toBeUndefined();
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
