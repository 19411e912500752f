// Maps by fd: info, lookup, update, delete, next key; and the possible CPU count.
#include "bpf_map.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <optional>
#include <string>

#include "api.h"
#include "args.h"
#include "errors.h"

namespace tether {
namespace {

bool IsPerCpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

int PossibleCpus(Napi::Env env) {
  int cpus = libbpf_num_possible_cpus();
  if (cpus < 0) throw SystemError(env, cpus, "libbpf_num_possible_cpus");
  return cpus;
}

// A failure is reported as bpf_obj_get_info_by_fd's, `detail` naming the call it served.
bpf_map_info MapInfo(Napi::Env env, int fd, const std::string& detail = {}) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  int err = bpf_obj_get_info_by_fd(fd, &info, &len);
  if (err) throw SystemError(env, err, "bpf_obj_get_info_by_fd", {}, detail);
  return info;
}

}  // namespace

MapSizes QueryMapSizes(Napi::Env env, int fd, const char* call) {
  bpf_map_info info = MapInfo(env, fd, std::string("the map's sizes, for ") + call);
  uint32_t value = info.value_size;
  if (IsPerCpu(info.type)) value = ((value + 7) & ~7u) * PossibleCpus(env);
  return {info.key_size, value};
}

void CheckSize(Napi::Env env, const char* call, const char* what, size_t given, size_t expected) {
  if (given == expected) return;
  throw SystemError(env, EINVAL, call, {},
                    std::string(what) + " is " + std::to_string(given) + " bytes, expected " +
                        std::to_string(expected));
}

Napi::Value mapInfoByFd(const Napi::CallbackInfo& info) {
  bpf_map_info map = MapInfo(info.Env(), ArgFd(info, 0, "fd"));
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("name", map.name);
  out.Set("type", map.type);
  out.Set("keySize", map.key_size);
  out.Set("valueSize", map.value_size);
  out.Set("maxEntries", map.max_entries);
  out.Set("id", map.id);
  return out;
}

// One lookup-shaped call (key in, value out), sizes checked against the map's own: null when
// the key is absent.
static Napi::Value LookupWith(const Napi::CallbackInfo& info, const char* call, int (*op)(int, const void*, void*)) {
  int fd = ArgFd(info, 0, "fd");
  Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "key");
  uint32_t value_size = ArgU32(info, 2, "valueSize");
  MapSizes sizes = QueryMapSizes(info.Env(), fd, call);
  CheckSize(info.Env(), call, "key", key.Length(), sizes.key);
  CheckSize(info.Env(), call, "valueSize", value_size, sizes.value);
  Napi::Buffer<uint8_t> value = Napi::Buffer<uint8_t>::New(info.Env(), value_size);
  int err = op(fd, key.Data(), value.Data());
  if (err == -ENOENT) return info.Env().Null();
  if (err) throw SystemError(info.Env(), err, call);
  return value;
}

Napi::Value mapLookup(const Napi::CallbackInfo& info) {
  return LookupWith(info, "bpf_map_lookup_elem", bpf_map_lookup_elem);
}

// Reads and removes an entry in one call (hash maps, 5.14+): an entry meant to be consumed once
// is consumed once, however many readers race for it.
Napi::Value mapLookupAndDelete(const Napi::CallbackInfo& info) {
  return LookupWith(info, "bpf_map_lookup_and_delete_elem", bpf_map_lookup_and_delete_elem);
}

Napi::Value mapUpdate(const Napi::CallbackInfo& info) {
  const char* call = "bpf_map_update_elem";
  int fd = ArgFd(info, 0, "fd");
  Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "key");
  Napi::Buffer<uint8_t> value = ArgBuffer(info, 2, "value");
  uint64_t flags = ArgInt(info, 3, "flags", 0, UINT32_MAX);
  MapSizes sizes = QueryMapSizes(info.Env(), fd, call);
  CheckSize(info.Env(), call, "key", key.Length(), sizes.key);
  CheckSize(info.Env(), call, "value", value.Length(), sizes.value);
  int err = bpf_map_update_elem(fd, key.Data(), value.Data(), flags);
  if (err) throw SystemError(info.Env(), err, call);
  return info.Env().Undefined();
}

Napi::Value mapDelete(const Napi::CallbackInfo& info) {
  const char* call = "bpf_map_delete_elem";
  int fd = ArgFd(info, 0, "fd");
  Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "key");
  CheckSize(info.Env(), call, "key", key.Length(), QueryMapSizes(info.Env(), fd, call).key);
  int err = bpf_map_delete_elem(fd, key.Data());
  if (err == -ENOENT) return Napi::Boolean::New(info.Env(), false);
  if (err) throw SystemError(info.Env(), err, call);
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value mapNextKey(const Napi::CallbackInfo& info) {
  const char* call = "bpf_map_get_next_key";
  int fd = ArgFd(info, 0, "fd");
  std::optional<Napi::Buffer<uint8_t>> key = ArgBufferOrNull(info, 1, "key");
  uint32_t key_size = ArgU32(info, 2, "keySize");
  uint32_t expected = QueryMapSizes(info.Env(), fd, call).key;
  CheckSize(info.Env(), call, "keySize", key_size, expected);
  if (key) CheckSize(info.Env(), call, "key", key->Length(), expected);
  Napi::Buffer<uint8_t> next = Napi::Buffer<uint8_t>::New(info.Env(), key_size);
  int err = bpf_map_get_next_key(fd, key ? key->Data() : nullptr, next.Data());
  if (err == -ENOENT) return info.Env().Null();
  if (err) throw SystemError(info.Env(), err, call);
  return next;
}

Napi::Value possibleCpus(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), PossibleCpus(info.Env()));
}

}  // namespace tether
