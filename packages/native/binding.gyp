{
  "targets": [
    {
      "target_name": "altclip_native",
      "sources": ["csrc/addon.cc", "csrc/kernels.cc", "csrc/pool.cc"],
      "cflags_cc!": ["-fno-exceptions", "-O2"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wno-unused-parameter", "-Wno-psabi"],
      "ldflags": ["-pthread"],
      "libraries": ["-lopenblas"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
