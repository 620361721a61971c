// The local prediction server: AutoML Vision's predict API, offline. It binds to 127.0.0.1 only,
// asks for a random bearer token, answers only requests whose Host is 127.0.0.1, localhost or
// [::1] at its port (DNS rebinding), and grants no cross-origin access (CORS preflights get none). Inference runs in the prediction process (PredictorClient);
// concurrent requests are gathered into batches while the predictor is busy. Bad input gets a 4xx
// with a reason and never stops the server. No `vscode` import: `automl serve` and the extension both use it.
//
//   GET  /v1/models                         → { models: [{ name, classes, input }] }
//   POST /v1/models/<name>:predict          { "payload": { "image": { "imageBytes": "<base64>" } } }
//                                           → { "payload": [{ "displayName": "…", "classification": { "score": 0.97 } }, …],
//                                               "outOfDistribution": { "flagged": true, "warnings": ["…"], "score": { … } } }
//   `outOfDistribution` (an addition to AutoML's shape, which clients that do not know it ignore) says whether
//   the image is unlike the training data (src/eval/ood.ts); absent when the model cannot tell.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ImagePrediction } from '../shared/protocol';

export interface ServedModel {
  name: string;
  /** An experiment folder (its final/model) or a model folder. */
  path: string;
}

/** What the server needs of the prediction process (PredictorClient fits). */
export interface BatchPredictor {
  predictBytes(model: string, images: { name: string; bytes: Uint8Array }[], topK?: number): Promise<ImagePrediction[]>;
}

export interface ServerOptions {
  models: ServedModel[];
  predictor: BatchPredictor;
  /** 0 picks a free port. */
  port?: number;
  /** Default: 32 random bytes, hex. */
  token?: string;
  /** Largest request body in bytes (default 10 MiB). */
  maxBodyBytes?: number;
  /** How long an image that finds the predictor idle waits for others (default 0: the current tick only), and the batch's size limit. */
  batchWindowMs?: number;
  maxBatch?: number;
  /** Labels returned per image (default all). */
  topK?: number;
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  token: string;
  server: Server;
  /**
   * Also answers requests whose Host is `authority` (host[:port]): the address VS Code forwards the port to when the
   * extension host is remote (asExternalUri: an SSH tunnel's local port, code-server's /proxy/<port>/). The token is
   * still required.
   */
  allowHost(authority: string): void;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function modelDir(path: string): string {
  return existsSync(join(path, 'model.json')) ? path : join(path, 'final', 'model');
}

function describeModel(m: ServedModel): { name: string; classes: string[]; input: unknown } {
  try {
    const json = JSON.parse(readFileSync(join(modelDir(m.path), 'model.json'), 'utf8')) as { userDefinedMetadata?: { classes?: string[]; input?: unknown } };
    return { name: m.name, classes: json.userDefinedMetadata?.classes ?? [], input: json.userDefinedMetadata?.input ?? null };
  } catch {
    return { name: m.name, classes: [], input: null };
  }
}

/**
 * Gathers concurrent images for one model into batches, adaptively: an image that finds the
 * predictor idle goes at once (after the current tick, plus an optional window); images that arrive
 * while a batch is being predicted wait and go together as the next batch. One client sees no added
 * latency; many clients get batched inference.
 */
class Batcher {
  private queue: { bytes: Uint8Array; resolve: (p: ImagePrediction) => void; reject: (e: Error) => void }[] = [];
  private scheduled = false;
  private inFlight = false;

  constructor(
    private readonly model: string,
    private readonly predictor: BatchPredictor,
    private readonly windowMs: number,
    private readonly maxBatch: number,
    private readonly topK: number | undefined,
  ) {}

  predict(bytes: Uint8Array): Promise<ImagePrediction> {
    return new Promise((resolve, reject) => {
      this.queue.push({ bytes, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight || !this.queue.length) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      this.flush();
    };
    if (this.windowMs > 0) setTimeout(go, this.windowMs);
    else setImmediate(go);
  }

  private flush(): void {
    const batch = this.queue.splice(0, this.maxBatch);
    if (!batch.length) return;
    this.inFlight = true;
    this.predictor
      .predictBytes(
        this.model,
        batch.map((b, i) => ({ name: `request-${i}`, bytes: b.bytes })),
        this.topK,
      )
      .then(
        (results) => batch.forEach((b, i) => b.resolve(results[i])),
        (e: Error) => batch.forEach((b) => b.reject(e)),
      )
      .finally(() => {
        this.inFlight = false;
        this.schedule();
      });
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new HttpError(413, `The request body is ${declared} bytes; the limit is ${limit}.`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        // Answer now and discard the rest; the 413 closes the connection (see send), so a client
        // still uploading gets its answer instead of a reset socket.
        req.off('data', onData);
        chunks.length = 0;
        req.resume();
        reject(new HttpError(413, `The request body is larger than ${limit} bytes.`));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The image bytes of an AutoML Vision predict payload, or a 400 that says what is wrong. */
export function imageFromPayload(body: Buffer): Uint8Array {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `The body is not JSON (${(e as Error).message}). Send {"payload":{"image":{"imageBytes":"<base64>"}}}.`);
  }
  const b64 = (json as { payload?: { image?: { imageBytes?: unknown } } } | null)?.payload?.image?.imageBytes;
  if (typeof b64 !== 'string' || !b64.length) {
    throw new HttpError(400, 'Missing payload.image.imageBytes: send {"payload":{"image":{"imageBytes":"<base64 of a PNG/JPEG/…>"}}}.');
  }
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64.replace(/\s+/g, ''))) throw new HttpError(400, 'payload.image.imageBytes is not base64.');
  return Buffer.from(b64, 'base64');
}

export async function startPredictionServer(o: ServerOptions): Promise<RunningServer> {
  const token = o.token ?? randomBytes(32).toString('hex');
  const expected = Buffer.from(`Bearer ${token}`);
  const limit = o.maxBodyBytes ?? 10 * 2 ** 20;
  const batchers = new Map<string, Batcher>();
  const byName = new Map(o.models.map((m) => [m.name, m]));
  const log = o.log ?? (() => undefined);
  /** The Host values a request may carry (set once the port is known). */
  let allowedHosts = new Set<string>();

  const send = (res: ServerResponse, status: number, body: unknown) => {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    const headers: Record<string, string | number> = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    };
    // A refused body may still be arriving: close the connection rather than read it all.
    if (status === 413) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // DNS rebinding: a web page whose name now resolves to 127.0.0.1 sends its own Host.
    const host = String(req.headers.host ?? '').toLowerCase();
    if (!allowedHosts.has(host)) {
      req.resume();
      throw new HttpError(
        421,
        `This server answers only requests for ${[...allowedHosts].join(', ')}${host ? `, not "${host}"` : ' (the request has no Host header)'}.`,
      );
    }
    if (req.method === 'OPTIONS') {
      // A CORS preflight: answered, and granting nothing (no Access-Control-Allow-* headers), so
      // a web page cannot call this server from another origin.
      req.resume();
      res.writeHead(204, { allow: 'GET, POST, OPTIONS', 'cache-control': 'no-store' });
      res.end();
      return;
    }
    const auth = Buffer.from(String(req.headers.authorization ?? ''));
    if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
      req.resume();
      throw new HttpError(401, 'Missing or wrong bearer token (header "Authorization: Bearer <token>").');
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      return send(res, 200, { models: o.models.map(describeModel) });
    }
    const match = /^\/v1\/models\/([^/:]+):predict$/.exec(url.pathname);
    if (!match) throw new HttpError(404, `No route ${req.method} ${url.pathname}; use GET /v1/models or POST /v1/models/<name>:predict.`);
    if (req.method !== 'POST') throw new HttpError(405, 'Use POST for :predict.');
    let name: string;
    try {
      name = decodeURIComponent(match[1]);
    } catch {
      throw new HttpError(400, `The model name "${match[1]}" is not valid percent-encoding.`);
    }
    const model = byName.get(name);
    if (!model) throw new HttpError(404, `No model "${name}"; served models: ${[...byName.keys()].join(', ')}.`);
    const bytes = imageFromPayload(await readBody(req, limit));
    let batcher = batchers.get(name);
    if (!batcher) {
      batcher = new Batcher(model.path, o.predictor, o.batchWindowMs ?? 0, o.maxBatch ?? 32, o.topK ?? 1000);
      batchers.set(name, batcher);
    }
    const p = await batcher.predict(bytes);
    if (p.error) throw new HttpError(400, `The image could not be used: ${p.error}`);
    send(res, 200, {
      payload: p.scores.map((s) => ({ displayName: s.label, classification: { score: s.score } })),
      ...(p.ood ? { outOfDistribution: p.ood } : {}),
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      const message = e instanceof Error ? e.message : String(e);
      if (status === 500) log(`prediction server: ${message}`);
      send(res, status, { error: { code: status, message } });
    });
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    token,
    server,
    allowHost: (authority: string) => {
      if (authority) allowedHosts.add(authority.toLowerCase());
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
