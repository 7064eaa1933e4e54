/**
 * Backpropagation that frees as it goes.
 *
 * tfjs-core's `Engine.gradients` (what tf.grad, tf.valueAndGrad and tf.customGrad call) walks the
 * recorded tape backward and keeps every intermediate gradient (one per tensor on the tape) and
 * every tensor an op saved for its gradient until the whole backward has run. A backward's peak is
 * then the forward's saved tensors plus a gradient for every activation of the forward. Measured on
 * wasm for one edge-masked GPT-2-small prompt (17 tokens): the tape saves 364 MB, and the backward
 * grew the heap by 1.27 GB a prompt, so two prompts filled the 4 GB heap.
 *
 * `freeingGradients` walks the same filtered tape in the same order, with the same gradient
 * functions and the same accumulation (so the gradients are bitwise tfjs's), and disposes each
 * node's output gradients and saved tensors as soon as that node is done. It replaces
 * `gradients` on tfjs's engine object (./backend-core.ts, for every backend); higher-order
 * gradients (a tape inside a tape) keep the stock path.
 */
import * as tf from '@tensorflow/tfjs';

/** A node of tfjs's tape (tfjs-core tape.ts TapeNode). */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

type Gradients = (f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean) => { value: tf.Tensor; grads: tf.Tensor[] };

/** The parts of tfjs-core's Engine this uses (engine.ts; stable since tfjs 1.x). */
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  gradients: Gradients;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
}

/**
 * The nodes on a path from `xs` to `y`, each with only its inputs that come from `xs`
 * (tfjs-core tape.ts getFilteredNodesXToY, the same rule).
 */
function nodesXToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      nodesToY.add(node.id);
    }
  }
  return tape.filter((n) => nodesFromX.has(n.id) && nodesToY.has(n.id)).map((n) => ({
    ...n,
    inputs: Object.fromEntries(Object.entries(n.inputs).filter(([, t]) => fromX.has(t.id))),
  }));
}

/** tfjs's engine object, as its internals. */
const engine = (): EngineInternals => tf.engine() as unknown as EngineInternals;

let stock: Gradients | null = null;

/** Engine.gradients, freeing each node's gradients and saved tensors once it is done. */
function freeingGradients(this: EngineInternals, f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients = false): { value: tf.Tensor; grads: tf.Tensor[] } {
  if (this.state.gradientDepth !== 0) return stock!.call(this, f, xs, dy, allowNoGradients);
  if (xs.length === 0) throw new Error('gradients() received an empty list of xs.');
  if (dy != null && dy.dtype !== 'float32') throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
  // A throw in the forward or the backward (a wasm abort, an objective's error) frees the tape's
  // saved tensors too, which tfjs's own method leaves behind (about 1,000 for an ioi-words mask
  // gradient).
  const dropTape = () => {
    for (const node of this.state.activeTape ?? []) for (const t of node.saved ?? []) t.dispose();
    this.state.activeTape = null;
  };
  let y: tf.Tensor;
  try {
    y = this.scopedRun(() => this.startTape(), () => this.endTape(), () => this.tidy('forward', f));
  } catch (e) {
    dropTape();
    throw e;
  }
  if (!(y instanceof tf.Tensor)) throw new Error('The result y returned by f() must be a tensor.');
  const tape = this.state.activeTape ?? [];
  const nodes = nodesXToY(tape, xs, y);
  if (!allowNoGradients && nodes.length === 0) {
    dropTape();
    y.dispose();
    throw new Error('Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all operations that lead from x to y.');
  }
  try {
    return backward.call(this, y, xs, dy, tape, nodes);
  } catch (e) {
    dropTape();
    y.dispose();
    throw e;
  }
}

/** The backward of freeingGradients over its filtered `nodes`; frees the tape when it is done. */
function backward(this: EngineInternals, y: tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor | undefined, tape: TapeNode[], nodes: TapeNode[]): { value: tf.Tensor; grads: tf.Tensor[] } {
  return this.tidy('backward', () => {
    const acc = new Map<number, tf.Tensor>();
    acc.set(y.id, dy ?? tf.onesLike(y));
    // the caller's dy is theirs; a gradient still to be used, or returned, is not freed
    const held = (t: tf.Tensor) => { if (t === dy) return true; for (const g of acc.values()) if (g === t) return true; return false; };
    const want = new Set(xs.map((x) => x.id));
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i];
      const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
      if (node.gradient == null) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
      const grads = node.gradient(dys);
      const spent: tf.Tensor[] = [];
      for (const name in node.inputs) {
        if (!(name in grads)) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(grads)}.`);
        const dx = this.tidy(() => grads[name]());
        const x = node.inputs[name];
        if (dx.dtype !== 'float32') throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
        if (dx.shape.length !== x.shape.length || dx.shape.some((d, k) => d !== x.shape[k])) {
          throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`);
        }
        const cur = acc.get(x.id);
        if (cur === undefined) acc.set(x.id, dx);
        else { acc.set(x.id, tf.add(cur, dx)); spent.push(cur, dx); }
      }
      // this node's output gradients are consumed (each tensor has one producer), and so are
      // the tensors it saved for its gradient
      for (const o of node.outputs) {
        const g = acc.get(o.id);
        if (g !== undefined && !want.has(o.id)) { acc.delete(o.id); spent.push(g); }
      }
      for (const t of [...spent, ...(node.saved ?? [])]) if (!t.isDisposed && !held(t)) t.dispose();
    }
    const grads = xs.map((x) => acc.get(x.id)!);
    for (const node of tape) for (const t of node.saved ?? []) if (!held(t)) t.dispose();
    this.state.activeTape = null;
    return { value: y, grads };
  });
}

/**
 * Whether tfjs's engine backpropagates with `freeingGradients` (on: what ./backend-core.ts sets
 * for every backend) or with its own stock method (off; tests compare the two).
 */
export function freeingBackprop(on: boolean): void {
  const e = engine();
  if (stock === null) stock = e.gradients;
  e.gradients = on ? freeingGradients : stock;
}
