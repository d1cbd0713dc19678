// A throw-away certificate authority for local https servers in tests, in
// plain node:crypto: ECDSA P-256 keys, and X.509 v3 certificates written
// with a minimal DER encoder (no openssl, no npm package). newTestCA()
// makes a self-signed CA; ca.issue() a server certificate for 127.0.0.1
// and localhost signed by it. Nothing is written to disk unless asked.

import { X509Certificate, createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

// ---- DER ---------------------------------------------------------------

function derLength(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag, ...parts) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
};
const seq = (...p) => tlv(0x30, ...p);
const set = (...p) => tlv(0x31, ...p);
const bool = (v) => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
const octets = (b) => tlv(0x04, b);
const utf8 = (s) => tlv(0x0c, Buffer.from(s, 'utf8'));
const explicit = (n, inner) => tlv(0xa0 | n, inner);
// A BIT STRING whose last byte's unused low bits are counted.
const bits = (b, unused = 0) => tlv(0x03, Buffer.from([unused]), b);

/** A non-negative INTEGER from big-endian bytes (or a small number). */
function int(v) {
  let b = typeof v === 'number' ? Buffer.from([v]) : Buffer.from(v);
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && !(b[i + 1] & 0x80)) i++;
  b = b.subarray(i);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(dotted) {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = n >>> 7; v > 0; v >>>= 7) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

// UTCTime up to 2049, GeneralizedTime after (RFC 5280 §4.1.2.5).
function time(d) {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'; // YYYYMMDDHHMMSSZ
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

// ---- X.509 -------------------------------------------------------------

const OID = {
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

const name = (cn) => seq(set(seq(oid(OID.organization), utf8('tenantless e2e'))), set(seq(oid(OID.commonName), utf8(cn))));
const extension = (id, critical, value) => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
const sigAlg = seq(oid(OID.ecdsaWithSHA256));

function spki(publicKey) {
  return publicKey.export({ type: 'spki', format: 'der' });
}

// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits.
function keyID(publicKey) {
  const der = spki(publicKey);
  // For a P-256 SPKI the key bits are the last 65 bytes (uncompressed point).
  return createHash('sha1').update(der.subarray(der.length - 65)).digest();
}

function ipBytes(ip) {
  if (ip.includes(':')) {
    // Only what tests use: "::1".
    if (ip !== '::1') throw new Error(`test-ca: unsupported IPv6 address ${ip}`);
    return Buffer.from([...new Array(15).fill(0), 1]);
  }
  return Buffer.from(ip.split('.').map(Number));
}

function certificate({ subject, issuer, publicKey, signingKey, issuerKeyID, extensions, days }) {
  const now = Date.now();
  const serial = randomBytes(16);
  serial[0] &= 0x7f; // positive
  const tbs = seq(
    explicit(0, int(2)), // v3
    int(serial),
    sigAlg,
    name(issuer),
    seq(time(new Date(now - 60 * 60 * 1000)), time(new Date(now + days * 24 * 60 * 60 * 1000))),
    name(subject),
    spki(publicKey),
    explicit(
      3,
      seq(
        extension(OID.subjectKeyIdentifier, false, octets(keyID(publicKey))),
        extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, issuerKeyID))),
        ...extensions,
      ),
    ),
  );
  const signature = sign('sha256', tbs, signingKey); // DER ECDSA-Sig-Value
  const der = seq(tbs, sigAlg, bits(signature));
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
  return { der, pem, x509: new X509Certificate(pem) };
}

/**
 * Makes a self-signed CA. Returns { certPEM, issue(opts) }; issue returns
 * { certPEM, keyPEM } for a server certificate (serverAuth) naming
 * opts.ips (default 127.0.0.1, ::1) and opts.dnsNames (default localhost).
 */
export function newTestCA({ commonName = 'tenantless e2e test CA', days = 2 } = {}) {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caKeyID = keyID(publicKey);
  const ca = certificate({
    subject: commonName,
    issuer: commonName,
    publicKey,
    signingKey: privateKey,
    issuerKeyID: caKeyID,
    days,
    extensions: [
      extension(OID.basicConstraints, true, seq(bool(true), int(0))), // CA, pathLen 0
      extension(OID.keyUsage, true, bits(Buffer.from([0x06]), 1)), // keyCertSign, cRLSign
    ],
  });
  if (!ca.x509.verify(publicKey) || !ca.x509.ca) throw new Error('test-ca: the CA certificate does not verify');

  return {
    certPEM: ca.pem,
    x509: ca.x509,
    issue({ ips = ['127.0.0.1', '::1'], dnsNames = ['localhost'], days: leafDays = days } = {}) {
      const leaf = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const san = seq(...dnsNames.map((d) => tlv(0x82, Buffer.from(d))), ...ips.map((ip) => tlv(0x87, ipBytes(ip))));
      const cert = certificate({
        subject: dnsNames[0] ?? ips[0],
        issuer: commonName,
        publicKey: leaf.publicKey,
        signingKey: privateKey,
        issuerKeyID: caKeyID,
        days: leafDays,
        extensions: [
          extension(OID.basicConstraints, true, seq()), // not a CA
          extension(OID.keyUsage, true, bits(Buffer.from([0x80]), 7)), // digitalSignature
          extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
          extension(OID.subjectAltName, false, san),
        ],
      });
      if (!cert.x509.verify(publicKey) || !cert.x509.checkIssued(ca.x509)) {
        throw new Error('test-ca: the server certificate does not verify against the CA');
      }
      return { certPEM: cert.pem, keyPEM: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }), x509: cert.x509 };
    },
  };
}
