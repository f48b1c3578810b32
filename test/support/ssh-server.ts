/**
 * SSH servers on 127.0.0.1 for the wait phase (ssh2's server side): one that
 * accepts only the given public key for the given user and answers
 * `cloud-init status --wait` the way a droplet does (and can change its host
 * key on the same port, as a rebuilt or impersonated machine would), and one
 * that accepts TCP connections and never says a word (a host that hangs).
 */
import net from 'node:net';
import ssh2 from 'ssh2';
import { timingSafeEqual } from 'node:crypto';

export interface FakeSshHost {
  port: number;
  /** The host key it presents now ("ssh-ed25519 AAAA…"). */
  hostKey: string;
  /** From the next connection on, presents a new host key of this type (default ed25519) on the same port. */
  rotateHostKey(type?: 'ed25519' | 'ecdsa'): string;
  /** Commands run over exec, in order. */
  commands: string[];
  logins: string[];
  close(): Promise<void>;
}

export interface FakeSshOptions {
  user: string;
  publicKey: string;
  /** Exit code and output of `cloud-init status --wait` (default: 0, "status: done"). */
  cloudInit?: { code: number; output: string; delayMs?: number };
  /** Refuse every login for this long after start (cloud-init has not made the user yet). */
  refuseLoginsForMs?: number;
  /** Answers to other exec commands (e.g. what Ansible's `raw` sends); unanswered ones are "not found". */
  answer?: (command: string) => { code: number; output: string } | undefined;
}

export async function startSshServer(o: FakeSshOptions): Promise<FakeSshHost> {
  const { Server, utils } = ssh2;
  const allowed = utils.parseKey(o.publicKey);
  if (allowed instanceof Error) throw allowed;
  const key = Array.isArray(allowed) ? allowed[0]! : allowed;
  const started = Date.now();
  const commands: string[] = [];
  const logins: string[] = [];
  const clients = new Set<ssh2.Connection>();
  const onClient = (client: ssh2.Connection) => {
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      const tooEarly = Date.now() - started < (o.refuseLoginsForMs ?? 0);
      if (tooEarly || ctx.method !== 'publickey' || ctx.username !== o.user) return ctx.reject(['publickey']);
      const want = key.getPublicSSH();
      if (ctx.key.algo !== key.type || ctx.key.data.length !== want.length || !timingSafeEqual(ctx.key.data, want)) return ctx.reject(['publickey']);
      if (!ctx.signature) return ctx.accept(); // the client asks whether this key would do
      if (key.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(['publickey']);
      logins.push(ctx.username);
      ctx.accept();
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        const session = accept();
        // Ansible's raw module asks for a terminal (ssh -tt).
        session.on('pty', (acceptPty) => acceptPty?.());
        session.on('exec', (acceptExec, _reject, info) => {
          const stream = acceptExec();
          commands.push(info.command);
          const ci = o.cloudInit ?? { code: 0, output: 'status: done\n' };
          setTimeout(() => {
            const answered = o.answer?.(info.command);
            if (info.command.startsWith('cloud-init status')) {
              stream.write(ci.output);
              stream.exit(ci.code);
            } else if (answered) {
              stream.write(answered.output);
              stream.exit(answered.code);
            } else {
              stream.stderr.write(`sh: 1: ${info.command.split(' ')[0]}: not found\n`);
              stream.exit(127);
            }
            stream.end();
          }, ci.delayMs ?? 0);
        });
      });
    });
  };
  // One listening socket; each connection goes to the ssh2 server of the current host key.
  const serverWith = (type: 'ed25519' | 'ecdsa') => {
    const newPair = () => (type === 'ecdsa' ? utils.generateKeyPairSync('ecdsa', { bits: 256 }) : utils.generateKeyPairSync('ed25519'));
    let pair = newPair();
    // ssh2 now and then makes an ed25519 pair it cannot read back (a leading zero byte dropped): make another.
    while (utils.parseKey(pair.private) instanceof Error) pair = newPair();
    const pub = utils.parseKey(pair.public);
    const parsed = Array.isArray(pub) ? pub[0]! : (pub as ssh2.ParsedKey);
    return { ssh: new Server({ hostKeys: [pair.private] }, onClient), hostKey: `${parsed.type} ${parsed.getPublicSSH().toString('base64')}` };
  };
  let current = serverWith('ed25519');
  const front = net.createServer((socket) => current.ssh.injectSocket(socket));
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const host: FakeSshHost = {
    port: (front.address() as net.AddressInfo).port,
    hostKey: current.hostKey,
    rotateHostKey: (type = 'ed25519') => {
      current = serverWith(type);
      host.hostKey = current.hostKey;
      return current.hostKey;
    },
    commands,
    logins,
    // Ends the connections ssh's ControlMaster keeps open, or close would wait for them.
    close: () =>
      new Promise((resolve) => {
        front.close(() => resolve());
        for (const c of clients) c.end();
      }),
  };
  return host;
}

/**
 * A TCP port that accepts connections and never answers: SSH's banner never
 * comes. `connections` says when each was opened and when the client gave up
 * (ms since the epoch): how long a client waited, without its start-up time.
 */
export async function startSilentPort(): Promise<{ port: number; connections: { openedAt: number; closedAt?: number }[]; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const connections: { openedAt: number; closedAt?: number }[] = [];
  const server = net.createServer((s) => {
    const c: { openedAt: number; closedAt?: number } = { openedAt: Date.now() };
    connections.push(c);
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => (c.closedAt ??= Date.now()));
    s.resume(); // read (and drop) what the client sends, or its going away is never seen
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
