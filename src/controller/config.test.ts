import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isMembershipError } from '../errors.js';
import { defaultStateDir, snapshotSettings } from '../snapshots/settings.js';
import { httpOptions, parseControllerConfig } from './config.js';

const SOURCE = '/etc/membership/controller.json';

/** A full valid configuration with every optional field left to its default. */
function full(): Record<string, unknown> {
  return {
    flaredb: {
      endpoints: ['https://10.0.1.10:2479', 'https://10.0.1.11:2479'],
      tls: { caFile: '/etc/membership/ca.pem', certFile: '/etc/membership/client.pem', keyFile: '/etc/membership/client-key.pem' },
    },
    iam: {
      endpoints: ['https://10.0.1.10:8080'],
      tls: { caFile: '/etc/membership/ca.pem' },
      adminSecretFile: '/etc/membership/iam-admin.json',
    },
  };
}

function parse(value: unknown) {
  return parseControllerConfig(JSON.stringify(value), SOURCE);
}

/** Asserts the config is rejected as CONFIG_INVALID with a message naming `field`; returns the message. */
function rejects(text: string, field: string): string {
  let message: string | undefined;
  assert.throws(
    () => parseControllerConfig(text, SOURCE),
    (err: unknown) => {
      assert.ok(isMembershipError(err, 'CONFIG_INVALID'), `expected CONFIG_INVALID, got ${String(err)}`);
      message = err.message;
      return true;
    },
  );
  assert.ok(message !== undefined);
  assert.ok(message.startsWith(`${SOURCE}: `), `message names the file: ${message}`);
  assert.ok(message.includes(`${field}: `), `message names ${field}: ${message}`);
  return message;
}

/** full() with one change at a dotted path; `undefined` deletes the field. */
function variant(path: string, value: unknown): Record<string, unknown> {
  const root = full();
  const keys = path.split('.');
  let at: Record<string, unknown> = root;
  for (const k of keys.slice(0, -1)) {
    let next = at[k];
    if (typeof next !== 'object' || next === null) {
      next = {};
      at[k] = next;
    }
    at = next as Record<string, unknown>;
  }
  const lastKey = keys.at(-1);
  assert.ok(lastKey !== undefined);
  if (value === undefined) delete at[lastKey];
  else at[lastKey] = value;
  return root;
}

describe('parseControllerConfig: valid configurations', () => {
  it('parses a full configuration and fills in the defaults', () => {
    const c = parse(full());
    assert.deepEqual(c, {
      flaredb: {
        endpoints: ['https://10.0.1.10:2479', 'https://10.0.1.11:2479'],
        tls: { caFile: '/etc/membership/ca.pem', certFile: '/etc/membership/client.pem', keyFile: '/etc/membership/client-key.pem' },
        requestTimeoutMs: 5000,
        retries: 3,
      },
      iam: {
        endpoints: ['https://10.0.1.10:8080'],
        tls: { caFile: '/etc/membership/ca.pem' },
        adminSecretFile: '/etc/membership/iam-admin.json',
        requestTimeoutMs: 5000,
        retries: 3,
      },
      chainfire: { callTimeoutMs: 5000 },
    });
  });

  it('keeps values that are given', () => {
    const c = parse({
      ...full(),
      flaredb: { endpoints: ['http://10.0.1.10:2479'], requestTimeoutMs: 100, retries: 0 },
      chainfire: { callTimeoutMs: 600_000 },
    });
    assert.equal(c.flaredb?.requestTimeoutMs, 100);
    assert.equal(c.flaredb?.retries, 0);
    assert.equal(c.flaredb?.tls, undefined);
    assert.equal(c.chainfire.callTimeoutMs, 600_000);
  });

  it('an empty object configures neither FlareDB nor IAM, with the Chainfire default', () => {
    assert.deepEqual(parse({}), { chainfire: { callTimeoutMs: 5000 } });
  });

  it('fills in chainfire.callTimeoutMs when chainfire is given empty', () => {
    assert.deepEqual(parse({ chainfire: {} }).chainfire, { callTimeoutMs: 5000 });
  });

  it('snapshots: the defaults, the directory under the state directory unless one is named', () => {
    const GiB = 1024 ** 3;
    assert.deepEqual(snapshotSettings(parse({}).snapshots, '/var/lib/membership-controller'), {
      dir: '/var/lib/membership-controller/snapshots',
      onFailure: 'refuse',
      maxCount: 10,
      maxBytes: GiB,
      minFreeBytes: GiB,
      timeoutMs: 300_000,
    });
    const given = parse({ snapshots: { dir: '/srv/snap', onFailure: 'warn', maxCount: 3, maxBytes: 5, minFreeBytes: 0, timeoutSeconds: 60 } }).snapshots;
    assert.deepEqual(snapshotSettings(given, '/ignored'), { dir: '/srv/snap', onFailure: 'warn', maxCount: 3, maxBytes: 5, minFreeBytes: 0, timeoutMs: 60_000 });
    assert.equal(snapshotSettings(parse({ snapshots: {} }).snapshots, '/s').dir, '/s/snapshots');
  });

  it('the state directory: systemd\'s STATE_DIRECTORY (its first path), else /var/lib/membership-controller', () => {
    assert.equal(defaultStateDir({}), '/var/lib/membership-controller');
    assert.equal(defaultStateDir({ STATE_DIRECTORY: '/var/lib/membership-controller' }), '/var/lib/membership-controller');
    assert.equal(defaultStateDir({ STATE_DIRECTORY: '/var/lib/mc:/var/lib/other' }), '/var/lib/mc');
    assert.equal(defaultStateDir({ STATE_DIRECTORY: 'relative' }), '/var/lib/membership-controller');
  });

  it('http endpoints need no tls', () => {
    const c = parse({ iam: { endpoints: ['http://10.0.1.10:8080'], adminSecretFile: '/a.json' } });
    assert.equal(c.iam?.tls, undefined);
  });

  it('httpOptions carries endpoints, timeouts and tls to the drivers', () => {
    const c = parse(full());
    assert.ok(c.flaredb);
    assert.deepEqual(httpOptions(c.flaredb), {
      endpoints: ['https://10.0.1.10:2479', 'https://10.0.1.11:2479'],
      requestTimeoutMs: 5000,
      retries: 3,
      tls: { caFile: '/etc/membership/ca.pem', certFile: '/etc/membership/client.pem', keyFile: '/etc/membership/client-key.pem' },
    });
    const plain = parse({ flaredb: { endpoints: ['http://10.0.1.10:2479'] } }).flaredb;
    assert.ok(plain);
    assert.equal('tls' in httpOptions(plain), false);
  });
});

describe('parseControllerConfig: invalid configurations name the field', () => {
  const cases: [string, unknown, string][] = [
    ['endpoint that is not a URL', variant('flaredb.endpoints', ['10.0.1.10:2479']), 'flaredb.endpoints.0'],
    ['second endpoint with a wrong scheme', variant('flaredb.endpoints', ['https://10.0.1.10:2479', 'ftp://10.0.1.11:2479']), 'flaredb.endpoints.1'],
    ['endpoint with credentials', variant('iam.endpoints', ['https://admin:pw@10.0.1.10:8080']), 'iam.endpoints.0'],
    ['endpoint with a path', variant('flaredb.endpoints', ['https://10.0.1.10:2479/admin']), 'flaredb.endpoints.0'],
    ['no endpoints', variant('flaredb.endpoints', []), 'flaredb.endpoints'],
    ['endpoints not a list', variant('iam.endpoints', 'https://10.0.1.10:8080'), 'iam.endpoints'],
    ['endpoints missing', variant('flaredb.endpoints', undefined), 'flaredb.endpoints'],
    ['adminSecretFile missing', variant('iam.adminSecretFile', undefined), 'iam.adminSecretFile'],
    ['adminSecretFile relative', variant('iam.adminSecretFile', 'iam-admin.json'), 'iam.adminSecretFile'],
    ['certFile relative', variant('flaredb.tls.certFile', 'client.pem'), 'flaredb.tls.certFile'],
    ['keyFile relative', variant('flaredb.tls.keyFile', 'client-key.pem'), 'flaredb.tls.keyFile'],
    ['caFile missing', variant('iam.tls', {}), 'iam.tls.caFile'],
    ['caFile relative', variant('iam.tls.caFile', 'ca.pem'), 'iam.tls.caFile'],
    ['certFile without keyFile', variant('flaredb.tls.keyFile', undefined), 'flaredb.tls'],
    ['requestTimeoutMs too small', variant('flaredb.requestTimeoutMs', 99), 'flaredb.requestTimeoutMs'],
    ['requestTimeoutMs too large', variant('iam.requestTimeoutMs', 600_001), 'iam.requestTimeoutMs'],
    ['requestTimeoutMs not a number', variant('flaredb.requestTimeoutMs', '5000'), 'flaredb.requestTimeoutMs'],
    ['retries negative', variant('flaredb.retries', -1), 'flaredb.retries'],
    ['retries too large', variant('iam.retries', 21), 'iam.retries'],
    ['retries fractional', variant('iam.retries', 1.5), 'iam.retries'],
    ['chainfire.callTimeoutMs too small', variant('chainfire.callTimeoutMs', 10), 'chainfire.callTimeoutMs'],
    ['chainfire.callTimeoutMs not a number', variant('chainfire.callTimeoutMs', 'soon'), 'chainfire.callTimeoutMs'],
    ['flaredb not an object', variant('flaredb', ['https://10.0.1.10:2479']), 'flaredb'],
    ['snapshots.dir relative', variant('snapshots.dir', 'snapshots'), 'snapshots.dir'],
    ['snapshots.onFailure unknown', variant('snapshots.onFailure', 'ignore'), 'snapshots.onFailure'],
    ['snapshots.maxCount zero', variant('snapshots.maxCount', 0), 'snapshots.maxCount'],
    ['snapshots.maxBytes negative', variant('snapshots.maxBytes', -1), 'snapshots.maxBytes'],
    ['snapshots.maxBytes as text', variant('snapshots.maxBytes', '1GiB'), 'snapshots.maxBytes'],
    ['snapshots.minFreeBytes fractional', variant('snapshots.minFreeBytes', 0.5), 'snapshots.minFreeBytes'],
    ['snapshots.timeoutSeconds too large', variant('snapshots.timeoutSeconds', 3601), 'snapshots.timeoutSeconds'],
    ['iam null', variant('iam', null), 'iam'],
  ];
  for (const [name, value, field] of cases) {
    it(`${name}: names ${field}`, () => {
      rejects(JSON.stringify(value), field);
    });
  }

  it('reports every problem at once', () => {
    const bad = variant('iam.adminSecretFile', 'relative.json');
    (bad['flaredb'] as Record<string, unknown>)['retries'] = 99;
    const message = rejects(JSON.stringify(bad), 'iam.adminSecretFile');
    assert.ok(message.includes('flaredb.retries: '), message);
  });
});

describe('parseControllerConfig: unknown fields', () => {
  it('at the top level: names the key', () => {
    const message = rejects(JSON.stringify({ ...full(), flaredbb: {} }), '(record)');
    assert.match(message, /"flaredbb"/);
  });

  it('inside flaredb: names flaredb and the key', () => {
    const message = rejects(JSON.stringify(variant('flaredb.timeoutMs', 1000)), 'flaredb');
    assert.match(message, /"timeoutMs"/);
  });

  it('inside iam.tls: names iam.tls and the key', () => {
    const message = rejects(JSON.stringify(variant('iam.tls.ca', '/ca.pem')), 'iam.tls');
    assert.match(message, /"ca"/);
  });

  it('inside snapshots: names snapshots and the key', () => {
    const message = rejects(JSON.stringify(variant('snapshots.keep', 3)), 'snapshots');
    assert.match(message, /"keep"/);
  });

  it('inside chainfire: names chainfire and the key', () => {
    const message = rejects(JSON.stringify({ chainfire: { endpoints: ['https://10.0.1.10:2379'] } }), 'chainfire');
    assert.match(message, /"endpoints"/);
  });
});

describe('parseControllerConfig: not a JSON object', () => {
  for (const text of ['', '{', '{"flaredb": }', 'flaredb: {}']) {
    it(`not JSON: ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseControllerConfig(text, SOURCE),
        (err: unknown) => isMembershipError(err, 'CONFIG_INVALID') && err.message.startsWith(`${SOURCE}: not valid JSON: `),
      );
    });
  }

  for (const text of ['null', '[]', '"config"', '42']) {
    it(`JSON but not an object: ${text}`, () => {
      rejects(text, '(record)');
    });
  }
});

describe('parseControllerConfig: https endpoints need tls', () => {
  it('flaredb https without tls: names flaredb.tls', () => {
    const message = rejects(JSON.stringify(variant('flaredb.tls', undefined)), 'flaredb.tls');
    assert.match(message, /https/);
  });

  it('iam https without tls: names iam.tls', () => {
    rejects(JSON.stringify(variant('iam.tls', undefined)), 'iam.tls');
  });

  it('one https endpoint among http ones is enough to need tls', () => {
    rejects(JSON.stringify({ flaredb: { endpoints: ['http://10.0.1.10:2479', 'https://10.0.1.11:2479'] } }), 'flaredb.tls');
  });
});

describe('parseControllerConfig: a tls block means every endpoint is https', () => {
  it('an http endpoint beside flaredb.tls is refused, naming the endpoint and the block', () => {
    const message = rejects(JSON.stringify(variant('flaredb.endpoints', ['http://10.0.1.10:2479'])), 'flaredb.endpoints.0');
    assert.match(message, /http:\/\/10\.0\.1\.10:2479 is plain http beside flaredb\.tls/);
    assert.match(message, /use https:\/\/ for every endpoint, or remove flaredb\.tls/);
  });

  it('one http endpoint after https ones is refused by its index', () => {
    rejects(JSON.stringify(variant('iam.endpoints', ['https://10.0.1.10:8080', 'https://10.0.1.11:8080', 'http://10.0.1.12:8080'])), 'iam.endpoints.2');
  });

  it('http endpoints without a tls block stay allowed (a lab, or a local proxy)', () => {
    assert.equal(parse({ flaredb: { endpoints: ['http://127.0.0.1:2479'] } }).flaredb?.endpoints[0], 'http://127.0.0.1:2479');
  });
});

describe('parseControllerConfig: endpoints and allowedLeaderHosts', () => {
  it('the same endpoint twice is refused at the second one', () => {
    const message = rejects(JSON.stringify(variant('flaredb.endpoints', ['https://10.0.1.10:2479', 'https://10.0.1.10:2479/'])), 'flaredb.endpoints.1');
    assert.match(message, /endpoints\.0 again/);
  });

  it('allowedLeaderHosts is kept and carried to the drivers', () => {
    const c = parse(variant('flaredb.allowedLeaderHosts', ['10.0.1.12', '10.0.1.13:2479', '[fd00::1]:2479']));
    assert.deepEqual(c.flaredb?.allowedLeaderHosts, ['10.0.1.12', '10.0.1.13:2479', '[fd00::1]:2479']);
    assert.deepEqual(httpOptions(c.flaredb!).allowedLeaderHosts, ['10.0.1.12', '10.0.1.13:2479', '[fd00::1]:2479']);
    assert.equal('allowedLeaderHosts' in httpOptions(parse(full()).flaredb!), false, 'none given: only the endpoints\' own hosts');
  });

  const bad: Array<[string, unknown, string]> = [
    ['not a list', '10.0.1.12', 'iam.allowedLeaderHosts'],
    ['a URL', ['https://10.0.1.12:8080'], 'iam.allowedLeaderHosts.0'],
    ['a path', ['10.0.1.12:8080/admin'], 'iam.allowedLeaderHosts.0'],
    ['a wildcard', ['10.0.1.12', '*'], 'iam.allowedLeaderHosts.1'],
    ['port out of range', ['10.0.1.12:70000'], 'iam.allowedLeaderHosts.0'],
    ['empty', [''], 'iam.allowedLeaderHosts.0'],
    ['a number', [10], 'iam.allowedLeaderHosts.0'],
  ];
  for (const [name, value, field] of bad) {
    it(`allowedLeaderHosts ${name}: names ${field}`, () => {
      rejects(JSON.stringify(variant('iam.allowedLeaderHosts', value)), field);
    });
  }
});
