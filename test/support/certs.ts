// A throwaway PKI for TLS tests, made with the openssl command line at test
// time: a CA, a server certificate for 127.0.0.1 and client certificates.
// Nothing is checked in; every run gets fresh keys in a temporary directory.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { etcdBinary, type PlannedMember } from './etcd-cluster.js';

const run = promisify(execFile);

export interface CertPair {
  /** PEM certificate. */
  certFile: string;
  /** PEM private key (PKCS#8), mode 0600. */
  keyFile: string;
}

export interface TestPki {
  readonly dir: string;
  /** The CA certificate, to pass as --cacert / --trusted-ca-file. */
  readonly caFile: string;
  /** For etcd's client and peer listeners: SAN IP:127.0.0.1 and DNS:localhost. */
  readonly server: CertPair;
  /** Client certificates by name; the name is the certificate's CN. */
  readonly clients: Record<string, CertPair>;
  /** Signs one more client certificate with the same CA. */
  issueClient(name: string): Promise<CertPair>;
  /** Removes the directory (unless KEEP_TEST_DIRS is set). */
  cleanup(): Promise<void>;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

// P-256 keys: as good as RSA-2048 for a test and generated in milliseconds.
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * Makes a CA, a server certificate and one client certificate per name in
 * `clients` (default node04, controller, operator) under a new temp dir.
 */
export async function makeTestPki(clients: string[] = ['node04', 'controller', 'operator']): Promise<TestPki> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'test-pki-'));
  const file = (name: string) => path.join(dir, name);
  const caFile = file('ca.crt');
  const caKey = file('ca.key');

  await openssl([
    'req', '-x509', ...KEY_ARGS, '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=photoncloud-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await chmod(caKey, 0o600);

  let serial = 1;
  const issue = async (name: string, extensions: string[]): Promise<CertPair> => {
    const keyFile = file(`${name}.key`);
    const certFile = file(`${name}.crt`);
    const csr = file(`${name}.csr`);
    const ext = file(`${name}.ext`);
    await openssl(['req', '-new', ...KEY_ARGS, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`]);
    await chmod(keyFile, 0o600);
    await writeFile(ext, `${extensions.join('\n')}\n`);
    await openssl([
      'x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', String(serial++),
      '-days', '2', '-out', certFile, '-extfile', ext,
    ]);
    await rm(csr);
    await rm(ext);
    return { certFile, keyFile };
  };

  // etcd dials itself (its gRPC gateway) with the server certificate, and uses
  // it to dial peers, so with client-cert-auth it must also be a client certificate.
  const server = await issue('server', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth,clientAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  const clientExtensions = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'];
  const issued: Record<string, CertPair> = {};
  for (const name of clients) issued[name] = await issue(name, clientExtensions);

  return {
    dir,
    caFile,
    server,
    clients: issued,
    async issueClient(name: string) {
      const pair = await issue(name, clientExtensions);
      issued[name] = pair;
      return pair;
    },
    async cleanup() {
      if (!process.env.KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------
// etcd members that serve their peer port over TLS too.

/**
 * Extra arguments for EtcdCluster.start when a member will join with an https
 * peer URL: the harness serves peers over plain http, and these settings let
 * its members dial an https peer. On their own http peer listeners etcd
 * ignores the files.
 */
export function peerTlsClientArgs(pki: TestPki): string[] {
  return ['--peer-trusted-ca-file', pki.caFile, '--peer-cert-file', pki.server.certFile, '--peer-key-file', pki.server.keyFile];
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The /bin/sh start command of a planned member that serves both its client
 * and its peer port over TLS with client-cert-auth. A node whose client URL is
 * https gets an https peer URL from the controller (the scheme follows the
 * client URL), which the harness's own plan.startCommand (http peers) cannot
 * serve. Like plan.startCommand it joins $CHAINFIRE_INITIAL_CLUSTER, runs in
 * the background and records its pid in plan.pidFile, so the harness stops it.
 */
export function tlsMemberStartCommand(plan: PlannedMember, pki: TestPki): string {
  const peerUrl = `https://${plan.raftAddr}`;
  const etcd = [
    etcdBinary(),
    '--name', plan.name, '--data-dir', plan.dataDir,
    '--listen-client-urls', plan.clientUrl, '--advertise-client-urls', plan.clientUrl,
    '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
    '--cert-file', pki.server.certFile, '--key-file', pki.server.keyFile, '--trusted-ca-file', pki.caFile, '--client-cert-auth',
    '--peer-cert-file', pki.server.certFile, '--peer-key-file', pki.server.keyFile, '--peer-trusted-ca-file', pki.caFile,
    '--heartbeat-interval', '100', '--election-timeout', '1000', '--logger', 'zap', '--log-outputs', 'stderr',
  ];
  return (
    `setsid ${etcd.map(shellQuote).join(' ')} --initial-cluster "$CHAINFIRE_INITIAL_CLUSTER" --initial-cluster-state existing` +
    ` </dev/null >>${shellQuote(plan.logFile)} 2>&1 & echo $! >${shellQuote(plan.pidFile)}`
  );
}

/** The etcd3 client's TLS credentials of one client of the PKI (mTLS against a member with client-cert auth). */
export async function clientCredentials(
  pki: TestPki,
  who: string,
): Promise<{ rootCertificate: Buffer; certChain: Buffer; privateKey: Buffer }> {
  const client = pki.clients[who];
  if (client === undefined) throw new Error(`the test PKI has no client ${who}`);
  return { rootCertificate: await readFile(pki.caFile), certChain: await readFile(client.certFile), privateKey: await readFile(client.keyFile) };
}
