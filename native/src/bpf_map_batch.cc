// Maps by fd, many entries per syscall: lookup, update and delete batches.
#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <vector>

#include "api.h"
#include "args.h"
#include "bpf_map.h"
#include "errors.h"

namespace tether {
namespace {

bpf_map_batch_opts BatchOpts(uint64_t elem_flags) {
  bpf_map_batch_opts opts{};
  opts.sz = sizeof(opts);
  opts.elem_flags = elem_flags;
  return opts;
}

}  // namespace

// The cursor is opaque: hash maps write a u32 bucket index, other maps the last key, so it is
// max(keySize, 4) bytes.
Napi::Value mapLookupBatch(const Napi::CallbackInfo& info) {
  const char* call = "bpf_map_lookup_batch";
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint32_t key_size = ArgU32(info, 1, "keySize");
  uint32_t value_size = ArgU32(info, 2, "valueSize");
  std::optional<Napi::Buffer<uint8_t>> cursor = ArgBufferOrNull(info, 3, "cursor");
  uint32_t count = ArgU32(info, 4, "count");
  MapSizes sizes = QueryMapSizes(env, fd, call);
  CheckSize(env, call, "keySize", key_size, sizes.key);
  CheckSize(env, call, "valueSize", value_size, sizes.value);
  size_t cursor_size = std::max<size_t>(key_size, 4);
  if (cursor) CheckSize(env, call, "cursor", cursor->Length(), cursor_size);

  std::vector<uint8_t> keys(size_t{count} * key_size), values(size_t{count} * value_size);
  std::vector<uint8_t> next(cursor_size);
  bpf_map_batch_opts opts = BatchOpts(0);
  int err = bpf_map_lookup_batch(fd, cursor ? cursor->Data() : nullptr, next.data(), keys.data(),
                                 values.data(), &count, &opts);
  if (err && err != -ENOENT) throw SystemError(env, err, call);

  Napi::Object out = Napi::Object::New(env);
  out.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), size_t{count} * key_size));
  out.Set("values", Napi::Buffer<uint8_t>::Copy(env, values.data(), size_t{count} * value_size));
  out.Set("count", count);
  out.Set("cursor", Napi::Buffer<uint8_t>::Copy(env, next.data(), next.size()));
  out.Set("done", err == -ENOENT);
  return out;
}

Napi::Value mapUpdateBatch(const Napi::CallbackInfo& info) {
  const char* call = "bpf_map_update_batch";
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Napi::Buffer<uint8_t> keys = ArgBuffer(info, 1, "keys");
  Napi::Buffer<uint8_t> values = ArgBuffer(info, 2, "values");
  uint32_t count = ArgU32(info, 3, "count");
  uint64_t flags = ArgInt(info, 4, "flags", 0, UINT32_MAX);
  MapSizes sizes = QueryMapSizes(env, fd, call);
  CheckSize(env, call, "keys", keys.Length(), size_t{count} * sizes.key);
  CheckSize(env, call, "values", values.Length(), size_t{count} * sizes.value);
  bpf_map_batch_opts opts = BatchOpts(flags);
  int err = bpf_map_update_batch(fd, keys.Data(), values.Data(), &count, &opts);
  if (err) throw SystemError(env, err, call);
  return env.Undefined();
}

// A key that is absent stops the kernel there: the count returned is then how many keys,
// from the first, were deleted.
Napi::Value mapDeleteBatch(const Napi::CallbackInfo& info) {
  const char* call = "bpf_map_delete_batch";
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Napi::Buffer<uint8_t> keys = ArgBuffer(info, 1, "keys");
  uint32_t count = ArgU32(info, 2, "count");
  CheckSize(env, call, "keys", keys.Length(), size_t{count} * QueryMapSizes(env, fd, call).key);
  bpf_map_batch_opts opts = BatchOpts(0);
  int err = bpf_map_delete_batch(fd, keys.Data(), &count, &opts);
  if (err && err != -ENOENT) throw SystemError(env, err, call);
  return Napi::Number::New(env, count);
}

}  // namespace tether
