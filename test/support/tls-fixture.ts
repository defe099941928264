import selfsigned from 'selfsigned';

export interface TlsFixture {
  key: string;
  cert: string;
}

let cached: TlsFixture | undefined;

/** A self-signed certificate for localhost / 127.0.0.1, made once per test process. Trust it via `ca`. */
export function localhostCertificate(): TlsFixture {
  if (cached) return cached;
  const generated = selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    days: 2,
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', keyCertSign: true, digitalSignature: true, keyEncipherment: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  cached = { key: generated.private, cert: generated.cert };
  return cached;
}
