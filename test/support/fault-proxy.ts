// A TCP proxy on loopback between Tally and PostgreSQL that can fail the way networks and databases
// do: pause (connections stall, bytes wait), blackhole (bytes vanish, new connections are accepted
// and never answered), reset (every connection is cut with RST) and refuse (nothing listens).
import net from "node:net";

export type FaultMode = "pass" | "pause" | "blackhole" | "refuse";

interface Link {
  readonly client: net.Socket;
  readonly server: net.Socket | undefined;
  /** Accepted while blackholed: never connected upstream; cut when the network heals. */
  readonly blackholed: boolean;
}

export class FaultProxy {
  private mode: FaultMode = "pass";
  private readonly links = new Set<Link>();
  /** Connections accepted, and cut by reset/refuse/heal, since start: for the figures. */
  accepted = 0;
  cut = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = net.createServer((client) => proxy!.accept(client, target));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new FaultProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  /** The same URL with host and port replaced by the proxy's. */
  urlFor(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.hostname = "127.0.0.1";
    url.port = String(this.port);
    return url.toString();
  }

  get current(): FaultMode {
    return this.mode;
  }

  /** Every connection stops moving bytes both ways; they flow again on heal(). */
  pause(): void {
    this.mode = "pause";
    for (const link of this.links) {
      link.client.pause();
      link.server?.pause();
    }
  }

  /** Bytes in both directions are dropped from now on; new connections are accepted and get no answer. */
  blackhole(): void {
    this.mode = "blackhole";
  }

  /** Cuts every open connection with a TCP reset; new ones still pass. */
  reset(): void {
    for (const link of [...this.links]) this.cutLink(link);
  }

  /** Cuts every connection and refuses new ones, as a database host with nothing listening. */
  refuse(): void {
    this.mode = "refuse";
    this.reset();
  }

  /**
   * Back to normal: paused connections resume where they were; connections that lost bytes to the
   * blackhole are cut (their streams are corrupt, as a real network would have timed them out).
   */
  heal(): void {
    const was = this.mode;
    this.mode = "pass";
    for (const link of [...this.links]) {
      if (link.blackholed || was === "blackhole") this.cutLink(link);
      else {
        link.client.resume();
        link.server?.resume();
      }
    }
  }

  async close(): Promise<void> {
    this.reset();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket, target: { host: string; port: number }): void {
    this.accepted += 1;
    client.on("error", () => {});
    if (this.mode === "refuse") {
      this.cut += 1;
      resetSocket(client);
      return;
    }
    if (this.mode === "blackhole") {
      const link: Link = { client, server: undefined, blackholed: true };
      this.links.add(link);
      client.on("data", () => {});
      client.on("close", () => this.links.delete(link));
      return;
    }
    const server = net.connect(target.port, target.host);
    server.on("error", () => {});
    const link: Link = { client, server, blackholed: false };
    this.links.add(link);
    const forward = (from: net.Socket, to: net.Socket) =>
      from.on("data", (chunk: Buffer) => {
        if (this.mode === "blackhole") return;
        if (!to.write(chunk)) {
          from.pause();
          to.once("drain", () => {
            if (this.mode === "pass") from.resume();
          });
        }
      });
    forward(client, server);
    forward(server, client);
    const close = () => {
      this.links.delete(link);
      client.destroy();
      server.destroy();
    };
    client.on("close", close);
    server.on("close", close);
    if (this.mode === "pause") {
      client.pause();
      server.pause();
    }
  }

  private cutLink(link: Link): void {
    this.cut += 1;
    this.links.delete(link);
    resetSocket(link.client);
    if (link.server) resetSocket(link.server);
  }
}

/** RST where the socket is connected; a socket still connecting is simply destroyed. */
function resetSocket(socket: net.Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
