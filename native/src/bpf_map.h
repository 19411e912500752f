// Size checks for the map calls by fd (bpf_map.cc): the kernel copies key_size and value
// bytes to and from user memory, so Buffers of other lengths are refused before the call.
#pragma once

#include <napi.h>

#include <cstdint>

namespace tether {

struct MapSizes {
  uint32_t key;
  // The whole value as user space sees it: per-CPU maps hold round_up(value_size, 8) bytes
  // for each possible CPU.
  uint32_t value;
};

// bpf_obj_get_info_by_fd on a map fd; a failure is a NativeError of bpf_obj_get_info_by_fd
// (whose bad-fd errno is EBADFD, not EBADF) naming `call` in its message.
MapSizes QueryMapSizes(Napi::Env env, int fd, const char* call);

// An EINVAL NativeError of `call` naming both sizes unless given == expected.
void CheckSize(Napi::Env env, const char* call, const char* what, size_t given, size_t expected);

}  // namespace tether
