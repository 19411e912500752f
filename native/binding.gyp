{
  "targets": [
    {
      "target_name": "tether_native",
      "sources": [
        "src/addon.cc",
        "src/args.cc",
        "src/errors.cc",
        "src/bpf_object.cc",
        "src/bpf_link.cc",
        "src/bpf_map.cc",
        "src/bpf_map_batch.cc",
        "src/pin.cc",
        "src/fd.cc",
        "src/ktls.cc",
        "src/relay.cc",
        "src/relay_pump.cc",
        "src/ringbuf.cc",
        "src/pidfd.cc",
        "src/peer.cc",
        "src/layout.cc",
        "src/clock.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "../bpf/include"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["<!@(pkg-config --cflags libbpf)", "-Wall", "-Wextra"],
      "cflags_cc": ["-fexceptions", "-Wall", "-Wextra"],
      "libraries": ["<!@(pkg-config --libs libbpf)"]
    }
  ]
}
