import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { GRADIENT_FIXES, registerGradientFixes } from './gradient-fixes';

/**
 * tfjs-core's CommonJS bundle (what `require('@tensorflow/tfjs-core')` loads in Node) registers NO gradients:
 * they live in the ES-module files dist/gradients/*_grad.js and are normally registered by the
 * `@tensorflow/tfjs` umbrella package (which tfjs-node pulls in). Without it, tf.grad fails with
 * "gradient function not found for Sum". Rather than depending on the umbrella (layers, converter, data,
 * webgl), this loads tfjs-core's own gradient definitions from the installed package: each file's `import`s
 * are bound to the same exports of the CommonJS bundle (one engine, one registry), and the few internal
 * backprop ops that the bundle does not export are loaded the same way from their own files.
 */

const coreDist = () => path.join(path.dirname(require.resolve('@tensorflow/tfjs-core/package.json')), 'dist');
/** A module's exports as the loaded code sees them (looked up by name, so any object will do). */
type Exports = object;
const loaded = new Map<string, Record<string, unknown>>();
const core: Exports = tf;

/** Module specifiers whose exports the bundle publishes under a namespace. */
const NAMESPACES: Record<string, Exports> = {
  util: tf.util,
  broadcast_util: tf.broadcast_util,
  axis_util: tf.backend_util,
  conv_util: tf.backend_util,
  selu_util: tf.backend_util,
  slice_util: tf.slice_util,
  // Not exported by the bundle; inside a gradient its inputs are already tensors.
  tensor_util_env: {
    convertToTensor: (x: unknown) => (x instanceof tf.Tensor ? x : tf.tensor(x as number[])),
  },
};

function resolveNamespace(fromDir: string, spec: string): Exports {
  return NAMESPACES[path.basename(spec)] ?? loadEsm(path.resolve(fromDir, spec + '.js'));
}

/** `ns[name]`: the loaded code reads exports by name, whatever their types. */
const member = (ns: Exports, name: string): unknown => Reflect.get(ns, name);

function resolveNamed(fromDir: string, spec: string, name: string): unknown {
  if (name === 'ENGINE') return tf.engine();
  const ns = NAMESPACES[path.basename(spec)];
  if (ns && name in ns) return member(ns, name);
  if (name in core) return member(core, name);
  const mod = loadEsm(path.resolve(fromDir, spec + '.js'));
  if (!(name in mod)) throw new Error(`registerGradients: cannot resolve '${name}' imported from '${spec}' in ${fromDir}`);
  return mod[name];
}

/** Evaluates one of tfjs-core's ES-module dist files as a function, binding its imports as above. */
function loadEsm(file: string): Record<string, unknown> {
  const hit = loaded.get(file);
  if (hit) return hit;
  const exportsObj: Record<string, unknown> = {};
  loaded.set(file, exportsObj);
  const dir = path.dirname(file);
  const src = fs
    .readFileSync(file, 'utf8')
    .replace(/^\/\/# sourceMappingURL=.*$/gm, '')
    .replace(/^import \* as (\w+) from '([^']+)';/gm, (_m, ns: string, spec: string) => `const ${ns} = __ns(${JSON.stringify(spec)});`)
    .replace(/^import \{([^}]*)\} from '([^']+)';/gm, (_m, names: string, spec: string) =>
      names
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => {
          const [imported, local = imported] = s.split(/\s+as\s+/);
          return `const ${local} = __named(${JSON.stringify(spec)}, ${JSON.stringify(imported)});`;
        })
        .join(' '),
    )
    .replace(/^export const (\w+)/gm, 'const $1 = exports.$1')
    .replace(/^export function (\w+)/gm, 'exports.$1 = $1; function $1');
  if (/^\s*(import|export)\b/m.test(src)) throw new Error(`registerGradients: unsupported module syntax in ${file}`);
  new Function('exports', '__ns', '__named', src)(
    exportsObj,
    (spec: string) => resolveNamespace(dir, spec),
    (spec: string, name: string) => resolveNamed(dir, spec, name),
  );
  return exportsObj;
}

let registered: number | undefined;

/**
 * Registers every tfjs-core gradient that is not registered yet (idempotent; setupBackend calls it).
 * Returns how many gradient kernels are available afterwards.
 */
export function registerGradients(): number {
  if (registered != null) return registered;
  const dir = path.join(coreDist(), 'gradients');
  let n = 0;
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('_grad.js')).sort()) {
    for (const [k, v] of Object.entries(loadEsm(path.join(dir, f)))) {
      if (!k.endsWith('GradConfig')) continue;
      const cfg = v as tf.GradConfig;
      if (tf.getGradient(cfg.kernelName) == null) tf.registerGradient(cfg);
      n++;
    }
  }
  n += registerZeroGradients();
  registerGradientFixes();
  n += GRADIENT_FIXES.filter((g) => !tf.getGradient(g.kernelName)).length;
  registered = n;
  return n;
}

/**
 * Comparisons and logical ops are piecewise constant, so their gradient is zero; tfjs-core registers that only
 * for GreaterEqual, and a mask such as `where(greater(x, 0), x, y)` with a differentiated `x` otherwise makes
 * tf.grad throw "gradient function not found for Greater".
 */
function registerZeroGradients(): number {
  const binary = ['Greater', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr'];
  let n = 0;
  for (const kernelName of binary) {
    if (tf.getGradient(kernelName) != null) continue;
    tf.registerGradient({
      kernelName,
      inputsToSave: ['a', 'b'],
      // Gradients must be float32 whatever the input dtype (bool for the logical ops).
      gradFunc: (_dy, saved) => ({ a: () => tf.zeros(saved[0].shape), b: () => tf.zeros(saved[1].shape) }),
    });
    n++;
  }
  if (tf.getGradient('LogicalNot') == null) {
    tf.registerGradient({ kernelName: 'LogicalNot', inputsToSave: ['x'], gradFunc: (_dy, saved) => ({ x: () => tf.zeros(saved[0].shape) }) });
    n++;
  }
  return n;
}
