{
  "variables": {
    "openblas%": "<!(node scripts/detect.js openblas)"
  },
  "targets": [
    {
      "target_name": "altclip_native",
      "sources": ["csrc/addon.cc", "csrc/arena.cc", "csrc/fused.cc", "csrc/fused_napi.cc", "csrc/kernels.cc", "csrc/elementwise.cc", "csrc/elementwise_napi.cc", "csrc/ops.cc", "csrc/ops_napi.cc", "csrc/bf16_napi.cc", "csrc/peak.cc", "csrc/pool.cc", "csrc/sgemm.cc"],
      "cflags_cc!": ["-fno-exceptions", "-O2"],
      "cflags_cc": ["-O3", "-std=c++17", "-ffp-contract=fast", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wno-unused-parameter", "-Wno-psabi"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["openblas==1", {"libraries": ["-lopenblas"], "defines": ["ALTCLIP_OPENBLAS"]}]
      ]
    }
  ]
}
