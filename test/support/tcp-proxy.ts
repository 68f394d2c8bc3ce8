import { connect, createServer, type Socket } from "node:net";

/** A TCP forwarder in front of a service: a fixed port for clients while the service behind it restarts on another one, and a way to cut every connection. */
export interface TcpProxy {
  port: number;
  url: string;
  /** Sends new connections to this port from now on. */
  retarget(port: number): void;
  /** Cuts every open connection (a network blip). */
  dropAll(): void;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 port 0 and forwards each connection to `targetPort`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let target = targetPort;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, "127.0.0.1");
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on("close", () => open.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const dropAll = () => {
    for (const socket of open) socket.destroy();
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    retarget: (p) => (target = p),
    dropAll,
    close() {
      dropAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
