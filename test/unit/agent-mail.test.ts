import { describe, expect, it } from 'vitest';
import { mayActAsAgent } from '../../src/domain/agent-mail.js';
import {
  alignedDomain,
  parseAuthenticationResults,
  trustedVerdict,
  verdictFromChecks,
} from '../../src/domain/authentication-results.js';

const pass = { status: 'pass', detail: 'ok' } as const;
const fail = { status: 'fail', detail: 'dmarc=fail' } as const;
const temp = { status: 'temperror', detail: 'DNS' } as const;

describe('mayActAsAgent', () => {
  it('in authenticating modes, the verdict decides (any of our tokens threads)', () => {
    for (const mode of ['dmarc', 'dkim', 'trusted-relay'] as const) {
      for (const evidence of ['issued-to-sender', 'issued-to-other', 'legacy'] as const)
        expect(mayActAsAgent({ mode, evidence, authentication: pass })).toEqual({
          allowed: true,
          basis: 'authenticated-sender',
        });
      // Even the agent's own token is not enough without authentication.
      expect(
        mayActAsAgent({ mode, evidence: 'issued-to-sender', authentication: fail }),
      ).toMatchObject({ allowed: false, reason: 'unauthenticated-sender', temporary: false });
      expect(
        mayActAsAgent({ mode, evidence: 'issued-to-other', authentication: null }),
      ).toMatchObject({ allowed: false, reason: 'unauthenticated-sender' });
    }
  });

  it('a DNS failure is a temporary refusal, never an acceptance', () => {
    const r = mayActAsAgent({ mode: 'dmarc', evidence: 'issued-to-sender', authentication: temp });
    expect(r).toMatchObject({ allowed: false, reason: 'unauthenticated-sender', temporary: true });
  });

  it('token-only: only a token issued to that agent', () => {
    expect(
      mayActAsAgent({ mode: 'token-only', evidence: 'issued-to-sender', authentication: null }),
    ).toEqual({ allowed: true, basis: 'token-issued-to-sender' });
    for (const evidence of ['issued-to-other', 'legacy'] as const)
      expect(mayActAsAgent({ mode: 'token-only', evidence, authentication: pass })).toMatchObject({
        allowed: false,
        reason: 'token-not-issued-to-sender',
      });
  });
});

describe('Authentication-Results', () => {
  it('parses authserv-id, methods, properties; drops comments and versions', () => {
    const h = parseAuthenticationResults(
      'mx.google.com;\r\n dkim=pass header.i=@example.com header.s=s1 header.b=abc;\r\n spf=pass (google.com: domain of a@example.com designates 1.2.3.4) smtp.mailfrom=a@example.com;\r\n dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com',
    );
    expect(h).toEqual({
      authservId: 'mx.google.com',
      results: [
        {
          method: 'dkim',
          result: 'pass',
          props: { 'header.i': '@example.com', 'header.s': 's1', 'header.b': 'abc' },
        },
        { method: 'spf', result: 'pass', props: { 'smtp.mailfrom': 'a@example.com' } },
        { method: 'dmarc', result: 'pass', props: { 'header.from': 'example.com' } },
      ],
    });
    expect(parseAuthenticationResults('mx 1; none')).toEqual({ authservId: 'mx', results: [] });
    expect(parseAuthenticationResults('"mx;x"; dkim/1=FAIL header.d="a;b"')?.results).toEqual([
      { method: 'dkim', result: 'fail', props: { 'header.d': 'a;b' } },
    ]);
    // Exchange Online's header has no authserv-id.
    expect(parseAuthenticationResults('spf=pass smtp.mailfrom=x; dmarc=pass')).toBeNull();
    expect(parseAuthenticationResults('')).toBeNull();
  });

  const stamp = (id: string, r: string, from = 'example.com') =>
    `${id}; dkim=${r} header.d=${from}; dmarc=${r} header.from=${from}`;

  it('trusts only the topmost header of the configured authserv-id', () => {
    expect(trustedVerdict([stamp('mx.ours', 'pass')], 'MX.OURS', 'example.com').status).toBe(
      'pass',
    );
    // Forged pass below our fail.
    expect(
      trustedVerdict([stamp('mx.ours', 'fail'), stamp('mx.ours', 'pass')], 'mx.ours', 'example.com')
        .status,
    ).toBe('fail');
    // Another id's pass above ours.
    expect(
      trustedVerdict(
        [stamp('mx.other', 'pass'), stamp('mx.ours', 'fail')],
        'mx.ours',
        'example.com',
      ).status,
    ).toBe('fail');
    expect(trustedVerdict([stamp('mx.other', 'pass')], 'mx.ours', 'example.com').status).toBe(
      'none',
    );
    expect(trustedVerdict([], 'mx.ours', 'example.com').status).toBe('none');
  });

  it('needs the pass to be about the From domain', () => {
    expect(
      trustedVerdict([stamp('mx.ours', 'pass', 'evil.example')], 'mx.ours', 'example.com').status,
    ).toBe('fail');
    expect(
      trustedVerdict(['mx.ours; dkim=pass header.d=example.com'], 'mx.ours', 'mail.example.com')
        .status,
    ).toBe('pass');
    expect(
      trustedVerdict(['mx.ours; dmarc=temperror header.from=example.com'], 'mx.ours', 'example.com')
        .status,
    ).toBe('temperror');
  });

  it('aligns a signing domain with the From domain or a parent of it', () => {
    expect(alignedDomain('example.com', 'example.com')).toBe(true);
    expect(alignedDomain('example.com', 'mail.example.com')).toBe(true);
    expect(alignedDomain('mail.example.com', 'example.com')).toBe(false);
    expect(alignedDomain('ample.com', 'example.com')).toBe(false);
    expect(alignedDomain('', 'example.com')).toBe(false);
  });
});

describe('verdictFromChecks (our own mailauth results)', () => {
  const signed = { domain: 'example.com', result: 'pass', aligned: true };
  it('dmarc mode follows the DMARC result', () => {
    expect(
      verdictFromChecks('dmarc', 'example.com', { dkim: [signed], dmarc: { result: 'pass' } })
        .status,
    ).toBe('pass');
    const v = verdictFromChecks('dmarc', 'example.com', {
      dkim: [{ domain: '', result: 'none', aligned: false }],
      dmarc: { result: 'fail', policy: 'reject' },
    });
    expect(v).toEqual({
      status: 'fail',
      detail: 'dmarc=fail for example.com (policy reject); no DKIM signature',
    });
    expect(
      verdictFromChecks('dmarc', 'example.com', { dkim: [signed], dmarc: { result: 'none' } })
        .status,
    ).toBe('none');
    expect(
      verdictFromChecks('dmarc', 'example.com', {
        dkim: [{ domain: 'example.com', result: 'temperror', aligned: false }],
        dmarc: { result: 'fail' },
      }).status,
    ).toBe('temperror');
  });
  it('dkim mode needs a valid aligned signature', () => {
    expect(verdictFromChecks('dkim', 'example.com', { dkim: [signed], dmarc: null }).status).toBe(
      'pass',
    );
    expect(
      verdictFromChecks('dkim', 'example.com', {
        dkim: [
          { ...signed, aligned: false },
          { ...signed, result: 'neutral' },
        ],
        dmarc: null,
      }).status,
    ).toBe('fail');
  });
});
