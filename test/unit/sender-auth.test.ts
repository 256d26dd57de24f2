/**
 * Our own DKIM check of agents' mail (senderVerdict in dkim mode), on mail signed by the test
 * harness's signer (example.test's key, published by the test resolver).
 */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { senderVerdict } from '../../src/mail/sender-auth.js';
import { dkimSignRaw, testResolver } from '../support/harness.js';

const mail = (subject: string) =>
  [
    'From: Lena Lead <lena@example.test>',
    'To: support+INC-000001.k3x9q2@example.test',
    `Subject: ${subject}`,
    'Date: Mon, 23 Nov 2026 10:05:00 +0000',
    'Message-ID: <reply-1@example.test>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    '#done 1',
    '',
  ].join('\r\n');

const verdict = (raw: Buffer) =>
  senderVerdict({
    mode: 'dkim',
    fromDomain: 'example.test',
    headers: new Map(),
    open: () => Readable.from([raw]),
    resolver: testResolver,
    mta: 'mx.example.test',
  });

describe('senderVerdict: DKIM', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('passes signed mail, also when the clock passed a second while it was signed', async () => {
    // Every reading of the clock 700 ms after the one before. mailauth, unless given the
    // signing time, read it once for the DKIM-Signature header it hashed and again for the one
    // it wrote, so t= differed whenever a second passed in between: the flake in which an
    // agent's reply was judged "dkim=fail (bad signature)" with a matching body hash.
    let t = Date.parse('2026-12-07T07:00:00.400Z');
    vi.spyOn(Date, 'now').mockImplementation(() => (t += 700));
    const signed = await dkimSignRaw(mail('Re: [INC-000001] My laptop is compromised'));
    vi.restoreAllMocks();
    expect(await verdict(signed)).toEqual({ status: 'pass', detail: 'dkim=pass d=example.test' });
  });

  it('fails the same mail with a signed header changed after signing', async () => {
    const signed = await dkimSignRaw(mail('Re: [INC-000001] My laptop is compromised'));
    const altered = Buffer.from(signed.toString('utf8').replace('laptop', 'phone'));
    const v = await verdict(altered);
    expect(v?.status).toBe('fail');
    expect(v?.detail).toContain('dkim=fail d=example.test (bad signature)');
  });
});
