/**
 * Reverse-mode gradients with PyTorch's memory profile. tfjs's own `tf.variableGrads` keeps every tensor a
 * gradient function saved, and every intermediate gradient, until the whole backward pass is over; PyTorch frees
 * each as soon as the node that needs it has run. This walks the same tape tfjs records (so every registered
 * gradient and customGrad applies unchanged) but frees as it goes:
 *   - saved tensors of nodes off the x -> y path right after the forward pass, and of each node once it has run;
 *   - the gradient of a node's outputs once the node has turned it into gradients of its inputs;
 *   - temporaries of each gradient function (each runs in its own tidy).
 * Results equal tf.variableGrads' (same kernels in the same order); tested against it in test/backprop.test.ts.
 * Relies on tfjs-core 4.x engine internals (state.activeTape, startTape/endTape), pinned in package.json.
 */
import * as tf from '@tensorflow/tfjs-core';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  isTapeOn(): boolean;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
}

// tfjs types the engine without the tape internals this file works with (they are not part of its public API).
const engine = () => tf.engine() as unknown as EngineInternals;

/** The nodes on a path from some x to y, each keeping only its inputs that depend on an x (tfjs's filter). */
function pathNodes(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodeFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodeFromX.add(node.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const nodeToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      nodeToY.add(node.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodeFromX.has(node.id) || !nodeToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[name] = t;
    out.push({ ...node, inputs });
  }
  return out;
}

function disposeSaved(node: TapeNode): void {
  for (const t of node.saved ?? []) t.dispose();
  node.saved = [];
}

export interface ValueAndGrads {
  value: tf.Scalar;
  /** One entry per x: its gradient, or null when y does not depend on it. */
  grads: Array<tf.Tensor | null>;
}

export interface BackpropOptions {
  /**
   * Called once per x as soon as its gradient is final (the last node that reads x, in backward order, has run),
   * while the rest of the backward pass is still to come: data-parallel training starts reducing it then. The
   * tensor is the one returned in `grads` (do not dispose it); the call runs inside the backward pass's tidy.
   */
  onGrad?: (index: number, grad: tf.Tensor) => void;
}

/**
 * y = f() and dy/dx for each x in `xs` (tensors or variables read inside f). Like tf.grads/tf.variableGrads but
 * frees saved activations and intermediate gradients during the backward pass (see the file comment). Throws
 * "Cannot find a connection ..." when y depends on none of the xs.
 */
export function valueAndGrads(f: () => tf.Scalar, xs: tf.Tensor[], opts: BackpropOptions = {}): ValueAndGrads {
  if (engine().state.gradientDepth !== 0) throw new Error('valueAndGrads: nested gradient computations are not supported (use tf.grads inside)');
  return backprop(f, xs, undefined, opts) as ValueAndGrads;
}

/**
 * Vector-Jacobian product: y = f() (any shape) and dy^T dy/dx for each x, with valueAndGrads' memory behaviour.
 * Callable inside a gradient function (activation checkpointing recomputes a layer this way): the tape of a
 * backward pass in progress is set aside and restored.
 */
export function vjp(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): { value: tf.Tensor; grads: Array<tf.Tensor | null> } {
  const e = engine();
  if (e.state.gradientDepth !== 0) throw new Error('vjp: called while a forward pass is being recorded (call it from a gradient function or outside any gradient computation)');
  const outer = e.state.activeTape;
  try {
    return backprop(f, xs, dy);
  } finally {
    e.state.activeTape = outer;
  }
}

/** For each node index, the xs (by position) that no earlier node reads: their gradients are final once it has run. */
function finalAfter(nodes: TapeNode[], xs: tf.Tensor[]): Map<number, number[]> {
  const pos = new Map<number, number>();
  xs.forEach((x, i) => pos.set(x.id, i));
  const firstUse = new Map<number, number>();
  nodes.forEach((node, n) => {
    for (const t of Object.values(node.inputs)) {
      const i = pos.get(t.id);
      if (i !== undefined && !firstUse.has(i)) firstUse.set(i, n);
    }
  });
  const out = new Map<number, number[]>();
  for (const [i, n] of firstUse) out.set(n, [...(out.get(n) ?? []), i]);
  return out;
}

function backprop(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor | undefined, opts: BackpropOptions = {}): { value: tf.Tensor; grads: Array<tf.Tensor | null> } {
  const e = engine();
  let y!: tf.Tensor;
  e.startTape();
  let tape: TapeNode[];
  try {
    y = e.tidy('forward', f);
  } finally {
    tape = e.state.activeTape ?? [];
    e.endTape();
    e.state.activeTape = null;
  }
  const why = !(y instanceof tf.Tensor)
    ? 'f must return a tensor'
    : dy === undefined && y.rank !== 0
      ? `f must return a scalar tensor, got shape [${y.shape}]`
      : dy !== undefined && !tf.util.arraysEqual(dy.shape, y.shape)
        ? `dy has shape [${dy.shape}] but f returned shape [${y.shape}]`
        : undefined;
  if (why) {
    for (const n of tape) disposeSaved(n);
    if (y instanceof tf.Tensor) y.dispose();
    throw new Error(`${dy === undefined ? 'valueAndGrads' : 'vjp'}: ${why}`);
  }
  const nodes = pathNodes(tape, xs, y);
  const onPath = new Set(nodes.map((n) => n.id));
  // Tensors saved by nodes that cannot contribute (frozen towers, the loss's constant parts) are freed now.
  for (const n of tape) if (!onPath.has(n.id)) disposeSaved(n);
  if (!nodes.length) {
    for (const n of tape) disposeSaved(n);
    y.dispose();
    throw new Error('Cannot find a connection between any variable and the result of the loss function y=f(x). Please make sure the operations that use variables are inside the function f passed to minimize().');
  }
  const isX = new Set(xs.map((x) => x.id));
  const ready = opts.onGrad ? finalAfter(nodes, xs) : undefined;
  try {
    const grads = e.tidy('backward', () => {
      const acc = new Map<number, tf.Tensor>();
      acc.set(y.id, dy === undefined ? tf.onesLike(y) : tf.clone(dy));
      for (let i = nodes.length - 1; i >= 0; i--) {
        const node = nodes[i];
        if (!node.gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
        const inputGrads = node.gradient(node.outputs.map((o) => acc.get(o.id) ?? null));
        for (const [name, x] of Object.entries(node.inputs)) {
          const thunk = inputGrads[name];
          if (!thunk) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGrads)}.`);
          const dx = e.tidy(thunk);
          if (dx.dtype !== 'float32') throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
          if (!tf.util.arraysEqual(dx.shape, x.shape))
            throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`);
          const prev = acc.get(x.id);
          if (!prev) acc.set(x.id, dx);
          else {
            acc.set(x.id, tf.add(prev, dx));
            prev.dispose();
            dx.dispose();
          }
        }
        // This node's output gradients and saved tensors are used up.
        for (const o of node.outputs) {
          if (isX.has(o.id)) continue;
          acc.get(o.id)?.dispose();
          acc.delete(o.id);
        }
        disposeSaved(node);
        for (const x of ready?.get(i) ?? []) {
          const g = acc.get(xs[x].id);
          if (g) opts.onGrad!(x, g);
        }
      }
      return xs.map((x) => acc.get(x.id) ?? null) as tf.Tensor[];
    });
    return { value: y, grads: grads as Array<tf.Tensor | null> };
  } catch (err) {
    y.dispose();
    throw err;
  } finally {
    for (const n of tape) disposeSaved(n);
  }
}

/** tf.variableGrads with valueAndGrads' memory behaviour: gradients keyed by variable name (connected ones only). */
export function variableGradsLean(f: () => tf.Scalar, vars: tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const { value, grads } = valueAndGrads(f, vars);
  const named: tf.NamedTensorMap = {};
  vars.forEach((v, i) => {
    if (grads[i]) named[v.name] = grads[i]!;
  });
  return { value, grads: named };
}

/** True while tfjs records operations for a gradient (outside any kernel). */
function recording(): boolean {
  return engine().isTapeOn();
}

/**
 * Activation checkpointing (torch.utils.checkpoint, HF gradient_checkpointing_enable): y = fn(x), recorded as ONE
 * tape node that saves only x. Its gradient runs fn again on a fresh tape and backpropagates through it, so a
 * layer's intermediates exist only while that layer is being differentiated: compute for memory.
 * `params` are the tensors fn reads that need gradients (trainable variables); fn may read variables that need
 * none from its closure, but every other tensor it reads (masks, biases) must come in `consts`: they are kept for
 * the recomputation (a closure's tensors are usually disposed by then). Dropout masks match the first run: the
 * Math.random draws tfjs seeds them with are recorded and replayed. Outside a gradient computation this is fn(x).
 */
export function checkpoint(fn: (x: tf.Tensor, consts: tf.Tensor[]) => tf.Tensor, x: tf.Tensor, params: tf.Tensor[], consts: tf.Tensor[] = []): tf.Tensor {
  if (!recording()) return fn(x, consts);
  const run = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const draws: number[] = [];
    const random = Math.random;
    Math.random = () => {
      const r = random();
      draws.push(r);
      return r;
    };
    let value: tf.Tensor;
    try {
      value = tf.tidy(() => fn(x, consts));
    } finally {
      Math.random = random;
    }
    save([x, ...consts]);
    const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [x0, ...c0] = saved;
      let next = 0;
      const outer = Math.random;
      Math.random = () => (next < draws.length ? draws[next++] : outer());
      try {
        const { value: y, grads } = vjp(() => fn(x0, c0), [x0, ...params], dy as tf.Tensor);
        y.dispose();
        return grads.map((g, i) => g ?? tf.zerosLike(i === 0 ? x0 : params[i - 1]));
      } finally {
        Math.random = outer;
      }
    };
    return { value, gradFunc };
  });
  return run(x, ...params);
}
