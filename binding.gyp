{
  "targets": [
    {
      "target_name": "limbo_native",
      "sources": ["native/limbo.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
