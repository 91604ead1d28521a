import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isMembershipError } from '../errors.js';
import { LeaderHosts, leaderHostProblem } from './leader-hosts.js';

const ENDPOINTS = ['https://10.0.1.10:2479', 'https://10.0.1.11:2479', 'http://flaredb.example:80'];
const field = 'flaredb.allowedLeaderHosts';

describe('LeaderHosts: a hint is followed only to a configured or listed host', () => {
  const hosts = new LeaderHosts('FlareDB', field, ENDPOINTS);

  for (const url of ['https://10.0.1.10:2479', 'https://10.0.1.11:2479/', 'http://10.0.1.11:2479', 'http://FLAREDB.example', 'https://flaredb.example:80']) {
    it(`follows ${url}: a configured endpoint's host and port`, () => {
      assert.equal(hosts.refusal(new URL(url)), undefined);
    });
  }

  for (const [url, named] of [
    ['https://10.0.1.12:2479', '10.0.1.12:2479'],
    ['https://10.0.1.10:9999', '10.0.1.10:9999'],
    ['https://10.0.1.10', '10.0.1.10:443'],
    ['http://flaredb.example:8080', 'flaredb.example:8080'],
    ['http://evil.example:80', 'evil.example:80'],
    ['http://[::1]:2479', '[::1]:2479'],
  ] as const) {
    it(`refuses ${url}, naming ${named} and the field that would allow it`, () => {
      const why = hosts.refusal(new URL(url));
      assert.equal(why, `${named} is neither one of FlareDB's configured endpoints nor listed in ${field}`);
    });
  }

  it('an entry with a port allows that port only; one without allows every port of the host', () => {
    const listed = new LeaderHosts('FlareDB', field, ENDPOINTS, ['10.0.1.12:2479', 'flaredb-4.example', '[fe80::1]:2479']);
    assert.equal(listed.refusal(new URL('https://10.0.1.12:2479')), undefined);
    assert.match(listed.refusal(new URL('https://10.0.1.12:2480')) ?? '', /10\.0\.1\.12:2480 is neither/);
    assert.equal(listed.refusal(new URL('https://flaredb-4.example:1234')), undefined);
    assert.equal(listed.refusal(new URL('https://FLAREDB-4.example')), undefined);
    assert.equal(listed.refusal(new URL('https://[fe80:0:0::1]:2479')), undefined);
    assert.ok(listed.refusal(new URL('https://flaredb-5.example')) !== undefined);
  });

  it('an invalid entry is CONFIG_INVALID naming the field and the entry', () => {
    assert.throws(
      () => new LeaderHosts('IAM', 'iam.allowedLeaderHosts', ENDPOINTS, ['10.0.1.12', 'http://x:1']),
      (err: unknown) => isMembershipError(err, 'CONFIG_INVALID') && /^iam\.allowedLeaderHosts\.1: "http:\/\/x:1" must be a host or host:port, not a URL/.test(err.message),
    );
  });
});

describe('leaderHostProblem: host or host:port, nothing else', () => {
  for (const ok of ['10.0.1.11', '10.0.1.11:2479', 'flaredb-2.example', 'flaredb-2.example.:8080', 'localhost', '[::1]', '[fe80::1]:2479']) {
    it(`accepts ${ok}`, () => assert.equal(leaderHostProblem(ok), undefined));
  }
  for (const [bad, why] of [
    ['', /empty/],
    ['https://10.0.1.11:2479', /not a URL/],
    ['10.0.1.11:2479/admin', /without a path/],
    ['*', /wildcard/],
    ['*.example', /wildcard/],
    ['admin:pw@10.0.1.11', /credentials/],
    ['10.0.1.11:99999', /out of range/],
    ['10.0.1.11:0', /out of range/],
    ['10.0.1.256', /not an IPv4 address/],
    ['[not-v6]:1', /not an IPv6 address/],
    ['::1', /host or host:port/],
    ['-bad-.example', /not a host name/],
    ['two words', /host or host:port/],
  ] as const) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.match(leaderHostProblem(bad) ?? '(accepted)', why));
  }
});
