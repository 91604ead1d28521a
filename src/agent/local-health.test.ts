import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { HttpClient } from '../net/http-client.js';
import { healthTarget, judgeHealth } from '../net/health.js';
import { checkHealth } from './local-health.js';

describe('judgeHealth', () => {
  const t = 'http://127.0.0.1:2379/health';
  it('is healthy on 200 unless a health field says otherwise', () => {
    assert.deepEqual(judgeHealth(t, 200, '{"health":"true"}'), { healthy: true, detail: `${t} answered HTTP 200` });
    assert.equal(judgeHealth(t, 200, 'OK').healthy, true);
    assert.equal(judgeHealth(t, 200, 'null').healthy, true);
    assert.deepEqual(judgeHealth(t, 200, '{"health":"false","reason":"NOSPACE"}'), { healthy: false, detail: `${t}: health=false` });
    assert.deepEqual(judgeHealth(t, 503, '{"health":"false"}'), { healthy: false, detail: `${t} answered HTTP 503` });
  });

  it('checks /health of the service URL', () => {
    assert.equal(healthTarget('https://10.0.1.13:2379'), 'https://10.0.1.13:2379/health');
  });
});

describe('checkHealth over Node HTTP', () => {
  it('asks a live endpoint, and reports one that does not answer in time', async () => {
    let answer = true;
    const server = createServer((req, res) => {
      if (!answer) return; // never answers
      res.end(req.url === '/health' ? '{"health":"true"}' : 'nope');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const http = new HttpClient({}, { keepAlive: false });
    try {
      assert.deepEqual(await checkHealth(url, http), { healthy: true, detail: `${url}/health answered HTTP 200` });
      answer = false;
      const slow = await checkHealth(url, http, 200);
      assert.equal(slow.healthy, false);
      assert.match(slow.detail, /\/health: .*(timeout|aborted)/i);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      const gone = await checkHealth(url, http);
      assert.equal(gone.healthy, false);
      assert.match(gone.detail, /ECONNREFUSED/);
    } finally {
      http.destroy();
      server.close();
    }
  });
});
