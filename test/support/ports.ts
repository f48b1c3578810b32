import net from 'node:net';

/** A TCP port free on 127.0.0.1 right now (the kernel's pick), for a stand-in or a real server a test starts. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
