/**
 * The "load balancer" the up tests point the workspace at: up checks the site
 * through it (GET / on port 80) before it says the cluster is up.
 */
import http from 'node:http';

/**
 * Listens on port 80 (where up looks for the site) of a random 127/8 address
 * outside 127.0.0.x: a fixed one would collide with another run of this
 * suite on the same machine.
 */
export async function listenOnLoopback80(server: http.Server): Promise<string> {
  const octet = () => 1 + Math.floor(Math.random() * 254);
  for (let attempt = 1; ; attempt++) {
    const ip = `127.${octet()}.${octet()}.${octet()}`;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(80, ip, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return ip;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 20) throw e;
    }
  }
}
