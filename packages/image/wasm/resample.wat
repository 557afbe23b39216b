;; Pillow-exact 8-bit bicubic passes with WebAssembly SIMD (i32x4 lanes = up to 4 interleaved channels).
;; Same arithmetic as src/resample.ts: sums start at 1 << 21, 22-bit integer coefficients, int32 accumulation,
;; then clip8 = clamp(sum >> 22, 0, 255). Buffers are padded by 8 bytes by the caller (4-byte loads/stores
;; of 3-channel pixels and 8-byte vertical groups may touch bytes past the end; they are rewritten or ignored).
;; Build: node scripts/build-wasm.js (wabt) -> src/resample-wasm.ts (base64).
(module
  (memory (export "mem") 1)

  ;; Horizontal pass: rows [r0, r1) of the HWC image at $src (width $w, $c = 3 or 4 channels),
  ;; output columns [x0, x1) with bounds (xmin, n) int32 pairs at $bounds and $ksize int32 taps per column at $k.
  (func (export "h") (param $src i32) (param $w i32) (param $c i32) (param $r0 i32) (param $r1 i32)
        (param $bounds i32) (param $k i32) (param $ksize i32) (param $x0 i32) (param $x1 i32) (param $out i32)
    (local $y i32) (local $xx i32) (local $p i32) (local $kp i32) (local $kend i32) (local $rowp i32)
    (local $b i32) (local $acc v128) (local $v v128)
    (local.set $y (local.get $r0))
    (block $ydone (loop $yloop
      (br_if $ydone (i32.ge_s (local.get $y) (local.get $r1)))
      (local.set $rowp (i32.add (local.get $src) (i32.mul (i32.mul (local.get $y) (local.get $w)) (local.get $c))))
      (local.set $xx (local.get $x0))
      (block $xdone (loop $xloop
        (br_if $xdone (i32.ge_s (local.get $xx) (local.get $x1)))
        (local.set $b (i32.add (local.get $bounds) (i32.shl (local.get $xx) (i32.const 3))))
        (local.set $p (i32.add (local.get $rowp) (i32.mul (i32.load (local.get $b)) (local.get $c))))
        (local.set $kp (i32.add (local.get $k) (i32.shl (i32.mul (local.get $xx) (local.get $ksize)) (i32.const 2))))
        (local.set $kend (i32.add (local.get $kp) (i32.shl (i32.load offset=4 (local.get $b)) (i32.const 2))))
        (local.set $acc (i32x4.splat (i32.const 2097152)))
        (block $tdone (loop $tloop
          (br_if $tdone (i32.ge_u (local.get $kp) (local.get $kend)))
          (local.set $acc
            (i32x4.add (local.get $acc)
              (i32x4.mul
                (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (v128.load32_zero (local.get $p))))
                (i32x4.splat (i32.load (local.get $kp))))))
          (local.set $p (i32.add (local.get $p) (local.get $c)))
          (local.set $kp (i32.add (local.get $kp) (i32.const 4)))
          (br $tloop)))
        (local.set $v
          (i32x4.min_s
            (i32x4.max_s (i32x4.shr_s (local.get $acc) (i32.const 22)) (v128.const i32x4 0 0 0 0))
            (v128.const i32x4 255 255 255 255)))
        (local.set $v (i16x8.narrow_i32x4_s (local.get $v) (local.get $v)))
        (v128.store32_lane 0 (local.get $out) (i8x16.narrow_i16x8_u (local.get $v) (local.get $v)))
        (local.set $out (i32.add (local.get $out) (local.get $c)))
        (local.set $xx (i32.add (local.get $xx) (i32.const 1)))
        (br $xloop)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $yloop))))

  ;; Vertical pass: $tmp holds rows starting at input row $r0, $stride bytes each; output rows [y0, y1),
  ;; 8 bytes per step (two i32x4 accumulators).
  (func (export "v") (param $tmp i32) (param $stride i32) (param $r0 i32) (param $bounds i32) (param $k i32)
        (param $ksize i32) (param $y0 i32) (param $y1 i32) (param $out i32)
    (local $yy i32) (local $i i32) (local $p i32) (local $kp i32) (local $kend i32) (local $kp0 i32)
    (local $base i32) (local $b i32) (local $px v128) (local $kv v128) (local $a0 v128) (local $a1 v128)
    (local.set $yy (local.get $y0))
    (block $ydone (loop $yloop
      (br_if $ydone (i32.ge_s (local.get $yy) (local.get $y1)))
      (local.set $b (i32.add (local.get $bounds) (i32.shl (local.get $yy) (i32.const 3))))
      (local.set $base (i32.add (local.get $tmp) (i32.mul (i32.sub (i32.load (local.get $b)) (local.get $r0)) (local.get $stride))))
      (local.set $kp0 (i32.add (local.get $k) (i32.shl (i32.mul (local.get $yy) (local.get $ksize)) (i32.const 2))))
      (local.set $kend (i32.add (local.get $kp0) (i32.shl (i32.load offset=4 (local.get $b)) (i32.const 2))))
      (local.set $i (i32.const 0))
      (block $idone (loop $iloop
        (br_if $idone (i32.ge_s (local.get $i) (local.get $stride)))
        (local.set $a0 (i32x4.splat (i32.const 2097152)))
        (local.set $a1 (local.get $a0))
        (local.set $p (i32.add (local.get $base) (local.get $i)))
        (local.set $kp (local.get $kp0))
        (block $tdone (loop $tloop
          (br_if $tdone (i32.ge_u (local.get $kp) (local.get $kend)))
          (local.set $px (i16x8.extend_low_i8x16_u (v128.load64_zero (local.get $p))))
          (local.set $kv (i32x4.splat (i32.load (local.get $kp))))
          (local.set $a0 (i32x4.add (local.get $a0) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $px)) (local.get $kv))))
          (local.set $a1 (i32x4.add (local.get $a1) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $px)) (local.get $kv))))
          (local.set $p (i32.add (local.get $p) (local.get $stride)))
          (local.set $kp (i32.add (local.get $kp) (i32.const 4)))
          (br $tloop)))
        (local.set $a0 (i32x4.min_s (i32x4.max_s (i32x4.shr_s (local.get $a0) (i32.const 22)) (v128.const i32x4 0 0 0 0)) (v128.const i32x4 255 255 255 255)))
        (local.set $a1 (i32x4.min_s (i32x4.max_s (i32x4.shr_s (local.get $a1) (i32.const 22)) (v128.const i32x4 0 0 0 0)) (v128.const i32x4 255 255 255 255)))
        (local.set $px (i16x8.narrow_i32x4_s (local.get $a0) (local.get $a1)))
        (v128.store64_lane 0 (i32.add (local.get $out) (local.get $i)) (i8x16.narrow_i16x8_u (local.get $px) (local.get $px)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $iloop)))
      (local.set $out (i32.add (local.get $out) (local.get $stride)))
      (local.set $yy (i32.add (local.get $yy) (i32.const 1)))
      (br $yloop)))))
