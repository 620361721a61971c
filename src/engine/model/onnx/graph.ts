// Building an ONNX graph: nodes with unique names, initializers (each weight stored once even when a
// nested model is called twice, as test-time augmentation does), constants, and the finished ModelProto.
import { AttributeType, DataType, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './proto';

/** The opset the exported graphs use (Clip, Pad and Split take tensors; Softmax is per axis). */
export const OPSET = 13;
/** ONNX IR version 7 goes with opset 13. */
export const IR_VERSION = 7;

export type Attr = { i: number } | { f: number } | { ints: number[] } | { floats: number[] } | { s: string };

function attribute(name: string, a: Attr): AttributeProto {
  if ('i' in a) return { name, type: AttributeType.INT, i: a.i };
  if ('f' in a) return { name, type: AttributeType.FLOAT, f: a.f };
  if ('ints' in a) return { name, type: AttributeType.INTS, ints: a.ints };
  if ('floats' in a) return { name, type: AttributeType.FLOATS, floats: a.floats };
  return { name, type: AttributeType.STRING, s: new TextEncoder().encode(a.s) };
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly cached = new Map<string, string>();

  /** A name not used yet in the graph, made from `hint`. */
  unique(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./:-]/g, '_') || 'v';
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Adds a node; returns its output names (`outputs` of them). */
  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, hint = op, outputs = 1): string[] {
    const out = Array.from({ length: outputs }, (_, i) => this.unique(outputs === 1 ? hint : `${hint}_${i}`));
    this.nodes.push({
      name: this.unique(`${hint}_${op}`),
      opType: op,
      input: inputs,
      output: out,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** One node with one output. */
  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}, hint = op): string {
    return this.node(op, inputs, attrs, hint, 1)[0];
  }

  /** `from` under the name `name` (reserved before with `unique`): the graph's output. */
  identity(from: string, name: string): void {
    this.nodes.push({ name: this.unique(`${name}_Identity`), opType: 'Identity', input: [from], output: [name], attribute: [] });
  }

  /**
   * A float32 initializer. With `key`, the same key returns the same initializer (a weight used by
   * several calls of a layer, or one constant used everywhere).
   */
  floats(hint: string, dims: number[], data: Float32Array | number[], key?: string): string {
    if (key !== undefined && this.cached.has(key)) return this.cached.get(key)!;
    const values = data instanceof Float32Array ? data : Float32Array.from(data);
    if (values.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`ONNX export: ${hint} has ${values.length} values for shape [${dims.join(', ')}]`);
    const name = this.unique(hint);
    const raw = new Uint8Array(values.length * 4);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    this.initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: raw });
    if (key !== undefined) this.cached.set(key, name);
    return name;
  }

  /** An int64 initializer (shapes, pads, indices), shared between equal values. */
  int64s(hint: string, values: number[], dims: number[] = [values.length]): string {
    const key = `int64:${dims.join('x')}:${values.join(',')}`;
    if (this.cached.has(key)) return this.cached.get(key)!;
    const name = this.unique(hint);
    const raw = new Uint8Array(values.length * 8);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    this.initializers.push({ name, dims, dataType: DataType.INT64, rawData: raw });
    this.cached.set(key, name);
    return name;
  }

  /** A float32 scalar constant, shared between equal values. */
  scalar(value: number): string {
    return this.floats(`const_${value}`, [], [value], `scalar:${Object.is(value, -0) ? '-0' : value}`);
  }

  model(o: {
    name: string;
    input: ValueInfoProto;
    output: ValueInfoProto;
    doc: string;
    metadata: Record<string, string>;
    producerVersion: string;
  }): ModelProto {
    return {
      irVersion: IR_VERSION,
      producerName: 'AutoML for VS Code',
      producerVersion: o.producerVersion,
      docString: o.doc,
      modelVersion: 1,
      opsetImport: [{ domain: '', version: OPSET }],
      metadataProps: Object.entries(o.metadata).map(([key, value]) => ({ key, value })),
      graph: { name: o.name, node: this.nodes, initializer: this.initializers, input: [o.input], output: [o.output] },
    };
  }
}

/** A float32 tensor's value info; a null dimension becomes the symbolic `dimParam`. */
export function tensorInfo(name: string, dims: Array<number | string>, doc?: string): ValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    ...(doc ? { docString: doc } : {}),
  };
}
