import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etcdAnswerCode, explainAnswer, explainFailure, failureText, needsDiagnosis, tlsDetail } from './explain.js';

const err = (code: string, message: string, cause?: unknown) => Object.assign(new Error(message), { code }, cause !== undefined ? { cause } : {});
const plain = { endpoint: 'http://10.0.1.10:2379', usesTls: false };
const tls = { endpoint: 'https://10.0.1.10:2379', usesTls: true, cacertFile: '/etc/ca.crt' };

describe('explainFailure: what is wrong and which flag fixes it', () => {
  it('connection refused', () => {
    assert.equal(
      explainFailure(err('ECONNREFUSED', 'connect ECONNREFUSED 10.0.1.10:2379'), plain),
      'cannot connect to Chainfire at http://10.0.1.10:2379: connection refused (is it running, and listening on that address?)',
    );
  });

  it('an unreachable host keeps the error code in the message', () => {
    assert.equal(
      explainFailure(err('EHOSTUNREACH', 'connect EHOSTUNREACH 10.0.1.10:2379'), plain),
      'cannot connect to Chainfire at http://10.0.1.10:2379: connect EHOSTUNREACH 10.0.1.10:2379',
    );
  });

  it('an http:// endpoint on a port that serves TLS', () => {
    const closed = err('ECONNRESET', 'the connection closed before an answer');
    assert.ok(needsDiagnosis(closed));
    assert.equal(
      explainFailure(closed, plain, { kind: 'serves-tls' }),
      'cannot connect to Chainfire at http://10.0.1.10:2379: it serves TLS, but the endpoint says http://; ' +
        'use https://10.0.1.10:2379 with --cacert (the CA that signed its certificate), and --cert/--key if it requires client certificates',
    );
    assert.equal(explainFailure(closed, plain, { kind: 'no-tls' }), 'cannot connect to Chainfire at http://10.0.1.10:2379: the connection closed before an answer');
  });

  it('no client certificate, or one that is refused', () => {
    const alert = err('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', '8000:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../ssl/record/rec_layer_s3.c:1601:SSL alert number 42\n');
    assert.equal(
      explainFailure(alert, tls),
      'Chainfire at https://10.0.1.10:2379 refused the TLS connection (TLS alert: bad certificate): it requires a client certificate; ' +
        'pass --cert and --key (a certificate signed by a CA that Chainfire trusts)',
    );
    assert.match(
      explainFailure(alert, { ...tls, certFile: '/etc/node04.crt' }),
      /^Chainfire at https:\/\/10\.0\.1\.10:2379 refused the client certificate --cert \/etc\/node04\.crt \(TLS alert: bad certificate\): it must be signed by a CA that Chainfire trusts/,
    );
    // The alert seen only by a connection of our own.
    const closed = err('ECONNRESET', 'the connection closed before an answer');
    assert.match(explainFailure(closed, tls, { kind: 'tls-error', message: alert.message }), /refused the TLS connection \(TLS alert: bad certificate\)/);
  });

  it('a server certificate that --cacert does not verify', () => {
    assert.equal(
      explainFailure(err('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'), tls),
      "cannot verify Chainfire's TLS certificate at https://10.0.1.10:2379 (unable to verify the first certificate): --cacert /etc/ca.crt " +
        'must be the CA that signed it, and the certificate must name the host of the endpoint',
    );
    assert.match(
      explainFailure(err('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: IP: 10.0.1.10 is not in the cert's list: 10.0.1.11"), tls),
      /cannot verify Chainfire's TLS certificate .*Hostname\/IP does not match/,
    );
  });

  it('https:// on a port that serves plain http', () => {
    assert.match(
      explainFailure(err('ECONNRESET', 'Client network socket disconnected before secure TLS connection was established'), tls),
      /^cannot connect to Chainfire at https:\/\/10\.0\.1\.10:2379 over TLS \(.*\): it does not seem to serve TLS there; if it serves plain http, use http:\/\/ endpoints without --cacert$/,
    );
  });

  it('reads the codes and messages of causes', () => {
    const wrapped = err('ERR_HTTP2_STREAM_CANCEL', 'The pending stream has been canceled (caused by: connect ECONNREFUSED 10.0.1.10:2379)', err('ECONNREFUSED', 'connect ECONNREFUSED 10.0.1.10:2379'));
    assert.match(failureText(wrapped), /ERR_HTTP2_STREAM_CANCEL: .* <- ECONNREFUSED: connect ECONNREFUSED/);
    assert.match(explainFailure(wrapped, plain), /connection refused/);
    assert.equal(tlsDetail('SSL routines:ssl3_get_record:wrong version number'), 'TLS: wrong version number');
  });
});

describe('etcdAnswerCode: answers of etcd cast into the error taxonomy', () => {
  const cases: [string, number | undefined, 'ACCESS_DENIED' | 'RESOURCE_EXHAUSTED' | undefined][] = [
    ['etcdserver: mvcc: database space exceeded', 8, 'RESOURCE_EXHAUSTED'],
    ['8 RESOURCE_EXHAUSTED: etcdserver: mvcc: database space exceeded', undefined, 'RESOURCE_EXHAUSTED'],
    ['etcdserver: authentication failed, invalid user ID or password', 3, 'ACCESS_DENIED'],
    ['etcdserver: permission denied', 7, 'ACCESS_DENIED'],
    ['etcdserver: invalid auth token', 3, 'ACCESS_DENIED'],
    ['etcdserver: user name is empty', 3, 'ACCESS_DENIED'],
    ['some refusal', 16, 'ACCESS_DENIED'],
    ['etcdserver: too many requests', 8, undefined],
    ['etcdserver: unhealthy cluster', 14, undefined],
    ['etcdserver: request timed out', 14, undefined],
  ];
  for (const [message, grpc, code] of cases) {
    it(`${JSON.stringify(message)} (gRPC ${grpc ?? '-'}) is ${code ?? 'neither'}`, () => assert.equal(etcdAnswerCode(message, grpc), code));
  }

  it('says what an operator does about the NOSPACE alarm, once', () => {
    const once = explainAnswer('Chainfire at http://h:2379: put failed: etcdserver: mvcc: database space exceeded');
    assert.ok(once.startsWith('Chainfire at http://h:2379: put failed: etcdserver: mvcc: database space exceeded: etcd raised its NOSPACE alarm'), once);
    for (const step of ['etcdctl compact', 'etcdctl defrag', 'etcdctl alarm disarm', '--quota-backend-bytes']) assert.ok(once.includes(step), step);
    assert.equal(explainAnswer(once), once);
    assert.equal(explainAnswer('etcdserver: permission denied'), 'etcdserver: permission denied');
  });
});
