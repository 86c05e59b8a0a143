{
  "variables": {
    "limbo_bpf%": "0"
  },
  "targets": [
    {
      "target_name": "limbo_native",
      "sources": ["native/limbo.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        [
          "limbo_bpf==1",
          {
            "sources": ["native/bpf-scan.c", "native/bpf-handles.c", "native/bpf-tables.c"],
            "defines": ["LIMBO_BPF"],
            "include_dirs": ["native", "<(module_root_dir)/build/bpf"],
            "libraries": ["-lbpf"]
          }
        ]
      ]
    }
  ]
}
