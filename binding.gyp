{
  # lvskit's native addon (native/lvskit_native.c): raw and packet sockets, TCP MD5 and GTSM socket
  # options. Plain C on Node-API and libuv. `npm run build:native` builds it and refreshes the
  # committed prebuild in prebuilds/linux-x64/ (see scripts in package.json and src/util/native.ts).
  "targets": [
    {
      "target_name": "lvskit_native",
      "conditions": [
        ["OS=='linux'", { "sources": ["native/lvskit_native.c", "native/lvskit_probe.c", "native/lvskit_nldump.c"] }]
      ],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2", "-fvisibility=hidden"],
      "cflags_c": ["-std=gnu11"]
    }
  ]
}
