/**
 * The cluster's own certificate authority for the database path
 * (docs/cluster.md#the-database-path-is-tls): one CA per workspace, a server
 * certificate the Galera nodes share and a client certificate the web nodes
 * share. Made at init, kept in the vaults; the CA's private key is used once
 * to sign the two and then thrown away, so nothing that reaches a node (or
 * the workspace) can mint another certificate this cluster trusts.
 *
 * Names rather than addresses: WordPress connects to db.<project>.internal
 * (dbHostName), which the web nodes resolve to the reserved IP through /etc/hosts, so the server
 * certificate does not depend on an address known only after terraform ran,
 * and a recreated reserved IP needs no new certificate.
 */
import { X509Certificate } from 'node:crypto';
import { issue, newCa } from './pki.js';

/** Ten years: the CA's key is gone after init, so a renewal is a rotation (`init --rotate tls`). */
export const DB_TLS_DAYS = 3650;

export interface DbTls {
  /** The CA certificate(s) every node trusts, PEM. */
  ca: string;
  /** The Galera nodes' certificate and key (serverAuth and clientAuth: Galera peers are both). */
  server: { cert: string; key: string };
  /** The web nodes' certificate and key (clientAuth), the WordPress account's proof. */
  client: { cert: string; key: string };
}

/** The name WordPress connects to (the reserved IP, through the web nodes' /etc/hosts), in the server certificate. */
export const dbHostName = (project: string): string => `db.${project}.internal`;

/** The client certificate's subject, which the WordPress account REQUIREs. */
export const dbClientSubject = (project: string): string => `/CN=${project}-wordpress`;

export async function newDbTls(project: string): Promise<DbTls> {
  const ca = await newCa(`${project} database CA`, DB_TLS_DAYS);
  const server = await issue(ca, { commonName: `${project}-galera`, dns: [dbHostName(project)] }, DB_TLS_DAYS);
  const client = await issue(ca, { commonName: `${project}-wordpress`, usage: ['clientAuth'] }, DB_TLS_DAYS);
  return { ca: ca.cert, server, client };
}

/**
 * The workspace's material when it is whole and still fits the project
 * (the server certificate names db.<project>.internal), else undefined.
 */
export function keptDbTls(project: string, ca: unknown, server: unknown, client: unknown): DbTls | undefined {
  const pair = (v: unknown) =>
    v && typeof v === 'object' && typeof (v as Record<string, unknown>).cert === 'string' && typeof (v as Record<string, unknown>).key === 'string'
      ? (v as { cert: string; key: string })
      : undefined;
  const s = pair(server);
  const c = pair(client);
  if (typeof ca !== 'string' || !s || !c) return undefined;
  try {
    // The first CA of the bundle is the current one, and it signed both.
    const current = new X509Certificate(ca).publicKey;
    for (const p of [s, c]) if (!new X509Certificate(p.cert).verify(current)) return undefined;
    if (!new X509Certificate(s.cert).checkHost(dbHostName(project))) return undefined;
  } catch {
    return undefined;
  }
  return { ca, server: s, client: c };
}
