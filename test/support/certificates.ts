/**
 * Throwaway self-signed certificates made by `openssl` while a test runs, so nothing checked
 * in ever expires: for a TLS server (with `subjectAltName`) or an OAuth2 certificate credential.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  /** PEM texts of the files. */
  cert: string;
  key: string;
}

/** An RSA 2048 key and a certificate for `cn`, valid two days, written as `<name>.{cert,key}.pem` in `dir`. */
export function selfSignedCertificate(
  dir: string,
  name: string,
  cn: string,
  extraArgs: string[] = [],
): TestCertificate {
  const certFile = join(dir, `${name}.cert.pem`);
  const keyFile = join(dir, `${name}.key.pem`);
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2'],
      ...['-keyout', keyFile, '-out', certFile, '-subj', `/CN=${cn}`, ...extraArgs],
    ],
    { stdio: 'ignore' },
  );
  return {
    certFile,
    keyFile,
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
  };
}
