/**
 * The "load balancer" the up tests point the workspace at: up checks the site
 * through it (GET / on port 80, or 443 with HTTPS) before it says the cluster
 * is up.
 */
import type { Server } from 'node:net';

/**
 * Listens on port 80 (where up looks for the site) of a random 127/8 address
 * outside 127.0.0.x: a fixed one would collide with another run of this
 * suite on the same machine. `alsoOn`: a second server (HTTPS) that must
 * listen on port 443 of the same address.
 */
export async function listenOnLoopback80(server: Server, alsoOn?: Server): Promise<string> {
  const octet = () => 1 + Math.floor(Math.random() * 254);
  for (let attempt = 1; ; attempt++) {
    const ip = `127.${octet()}.${octet()}.${octet()}`;
    try {
      await listen(server, 80, ip);
      if (alsoOn)
        await listen(alsoOn, 443, ip).catch((e: unknown) => {
          server.close();
          throw e;
        });
      return ip;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 20) throw e;
    }
  }
}

function listen(server: Server, port: number, ip: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
