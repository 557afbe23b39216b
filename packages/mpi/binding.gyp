{
  "variables": {
    "mpi_cflags%": "<!(node scripts/detect.js cflags)",
    "mpi_libs%": "<!(node scripts/detect.js libs)"
  },
  "targets": [
    {
      "target_name": "altclip_mpi",
      "sources": ["csrc/mpi_addon.cc", "csrc/comm.cc"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-O2", "-std=c++17", "-Wall", "-Wno-unused-parameter", "<@(mpi_cflags)"],
      "libraries": ["<@(mpi_libs)"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8", "OMPI_SKIP_MPICXX", "MPICH_SKIP_MPICXX"]
    }
  ]
}
