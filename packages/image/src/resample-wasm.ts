/**
 * WebAssembly SIMD versions of the two 8-bit passes in resample.ts (3 or 4 channels), same integer arithmetic,
 * so results are bit-identical (tested against the TS passes). Falls back to TS when WebAssembly SIMD is
 * unavailable or ALTCLIP_IMAGE_WASM=0.
 */
import type { Coeffs, Roi } from './resample';
import { RESAMPLE_WASM_BASE64 } from './resample-wasm-bytes';

// The project's lib settings have no WebAssembly typings; the few APIs used are declared here.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

interface Kernels {
  mem: { buffer: ArrayBuffer; grow(pages: number): number };
  h: (src: number, w: number, c: number, r0: number, r1: number, bounds: number, k: number, ksize: number, x0: number, x1: number, out: number) => void;
  v: (tmp: number, stride: number, r0: number, bounds: number, k: number, ksize: number, y0: number, y1: number, out: number) => void;
}

let kernels: Kernels | null | undefined;

export function wasmKernels(): Kernels | null {
  if (kernels !== undefined) return kernels;
  kernels = null;
  if (process.env.ALTCLIP_IMAGE_WASM === '0' || typeof WebAssembly === 'undefined') return kernels;
  try {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(RESAMPLE_WASM_BASE64, 'base64')), {});
    // WebAssembly types exports as a map of ExportValue; this module's exports are the functions Kernels lists.
    kernels = inst.exports as unknown as Kernels;
  } catch {
    kernels = null;
  }
  return kernels;
}

/** Bump allocator over the wasm memory for one call (16-byte aligned, 8 bytes of slack per buffer). */
function layout(sizes: number[]): number[] {
  const offs: number[] = [];
  let p = 0;
  for (const s of sizes) {
    offs.push(p);
    p += Math.ceil((s + 8) / 16) * 16;
  }
  offs.push(p);
  return offs;
}

/**
 * Both passes in wasm. `rows` = [r0, r1) input rows used; the flags say which passes Pillow would run.
 * Returns null when wasm is not available.
 */
export function resizeU8Wasm(
  src: Uint8Array, w: number, c: number, ch: Coeffs | null, cv: Coeffs | null, r: Roi, r0: number, r1: number,
): Uint8Array | null {
  const K = wasmKernels();
  if (!K) return null;
  const ow = r.x1 - r.x0;
  const stride = ow * c;
  const oh = r.y1 - r.y0;
  const srcBytes = ch ? (r1 - r0) * w * c : 0;
  const [oSrc, oHb, oHk, oTmp, oVb, oVk, oOut, end] = layout([
    srcBytes, ch ? ch.bounds.byteLength : 0, ch ? ch.k.byteLength : 0, (r1 - r0) * stride,
    cv ? cv.bounds.byteLength : 0, cv ? cv.k.byteLength : 0, cv ? oh * stride : 0,
  ]);
  const need = end - K.mem.buffer.byteLength;
  if (need > 0) K.mem.grow(Math.ceil(need / 65536));
  const heap = new Uint8Array(K.mem.buffer);
  if (ch) {
    // Only rows [r0, r1) are copied; the kernel sees them as rows [0, r1 - r0).
    heap.set(src.subarray(r0 * w * c, r1 * w * c), oSrc);
    heap.set(new Uint8Array(ch.bounds.buffer, ch.bounds.byteOffset, ch.bounds.byteLength), oHb);
    heap.set(new Uint8Array(ch.k.buffer, ch.k.byteOffset, ch.k.byteLength), oHk);
    K.h(oSrc, w, c, 0, r1 - r0, oHb, oHk, ch.ksize, r.x0, r.x1, oTmp);
  } else {
    for (let y = r0; y < r1; y++) heap.set(src.subarray((y * w + r.x0) * c, (y * w + r.x1) * c), oTmp + (y - r0) * stride);
  }
  let out: Uint8Array;
  if (!cv) out = heap.slice(oTmp, oTmp + (r1 - r0) * stride);
  else {
    heap.set(new Uint8Array(cv.bounds.buffer, cv.bounds.byteOffset, cv.bounds.byteLength), oVb);
    heap.set(new Uint8Array(cv.k.buffer, cv.k.byteOffset, cv.k.byteLength), oVk);
    K.v(oTmp, stride, r0, oVb, oVk, cv.ksize, r.y0, r.y1, oOut);
    out = heap.slice(oOut, oOut + oh * stride);
  }
  // Wasm memory cannot shrink: after a very large image, drop the instance so the memory can be collected.
  if (K.mem.buffer.byteLength > MAX_KEPT_MEMORY) kernels = undefined;
  return out;
}

const MAX_KEPT_MEMORY = 64 << 20;
