// bpf_object: open, adjust before load, load, list, hand out fds, close.
#include <bpf/libbpf.h>

#include <cerrno>

#include "api.h"
#include "args.h"
#include "errors.h"
#include "handles.h"
#include "object.h"

namespace tether {

bpf_program* FindProgram(Napi::Env env, Box<bpf_object>* obj, const std::string& name) {
  bpf_program* prog = bpf_object__find_program_by_name(obj->ptr, name.c_str());
  if (!prog) {
    throw SystemError(env, ENOENT, "bpf_object__find_program_by_name",
                      {{"object", obj->path}, {"program", name}});
  }
  return prog;
}

bpf_map* FindMap(Napi::Env env, Box<bpf_object>* obj, const std::string& name) {
  bpf_map* map = bpf_object__find_map_by_name(obj->ptr, name.c_str());
  if (!map) {
    throw SystemError(env, ENOENT, "bpf_object__find_map_by_name",
                      {{"object", obj->path}, {"map", name}});
  }
  return map;
}

Napi::Value objectOpen(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "path");
  std::string pin_root;
  if (!info[1].IsUndefined()) {
    if (!info[1].IsObject()) throw Napi::TypeError::New(info.Env(), "options must be an object");
    Napi::Value root = info[1].As<Napi::Object>().Get("pinRoot");
    if (!root.IsUndefined()) {
      if (!root.IsString()) throw Napi::TypeError::New(info.Env(), "pinRoot must be a string");
      pin_root = root.As<Napi::String>().Utf8Value();
    }
  }
  LibbpfCall call;
  bpf_object_open_opts opts{};
  opts.sz = sizeof(opts);
  opts.pin_root_path = pin_root.empty() ? nullptr : pin_root.c_str();
  bpf_object* obj = bpf_object__open_file(path.c_str(), &opts);
  if (!obj) {
    throw SystemError(info.Env(), errno, "bpf_object__open_file",
                      {{"path", path}, {"object", path}});
  }
  // Without a pin root libbpf pins LIBBPF_PIN_BY_NAME maps at the top of /sys/fs/bpf, outside
  // any pin dir that uninstall cleans: refuse instead.
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    if (pin_root.empty() && bpf_map__pin_path(map)) {
      std::string name = bpf_map__name(map);
      bpf_object__close(obj);
      throw SystemError(info.Env(), EINVAL, "bpf_object__open_file",
                        {{"path", path}, {"object", path}, {"map", name}},
                        "map is pinned by name but no pinRoot was given");
    }
  }
  return Wrap(info.Env(), obj, path);
}

Napi::Value objectSetMapMaxEntries(const Napi::CallbackInfo& info) {
  Box<bpf_object>* obj = Open<bpf_object>(info, 0);
  std::string name = ArgString(info, 1, "mapName");
  uint32_t max_entries = ArgU32(info, 2, "maxEntries");
  LibbpfCall call;
  int err = bpf_map__set_max_entries(FindMap(info.Env(), obj, name), max_entries);
  if (err) {
    throw SystemError(info.Env(), err, "bpf_map__set_max_entries",
                      {{"object", obj->path}, {"map", name}});
  }
  return info.Env().Undefined();
}

Napi::Value objectSetInitialValue(const Napi::CallbackInfo& info) {
  Box<bpf_object>* obj = Open<bpf_object>(info, 0);
  std::string name = ArgString(info, 1, "mapName");
  Napi::Buffer<uint8_t> data = ArgBuffer(info, 2, "data");
  LibbpfCall call;
  int err = bpf_map__set_initial_value(FindMap(info.Env(), obj, name), data.Data(), data.Length());
  if (err) {
    throw SystemError(info.Env(), err, "bpf_map__set_initial_value",
                      {{"object", obj->path}, {"map", name}});
  }
  return info.Env().Undefined();
}

Napi::Value objectSetAutoload(const Napi::CallbackInfo& info) {
  Box<bpf_object>* obj = Open<bpf_object>(info, 0);
  std::string name = ArgString(info, 1, "progName");
  bool autoload = ArgBool(info, 2, "autoload");
  LibbpfCall call;
  int err = bpf_program__set_autoload(FindProgram(info.Env(), obj, name), autoload);
  if (err) {
    throw SystemError(info.Env(), err, "bpf_program__set_autoload",
                      {{"object", obj->path}, {"program", name}});
  }
  return info.Env().Undefined();
}

Napi::Value objectLoad(const Napi::CallbackInfo& info) {
  Box<bpf_object>* obj = Open<bpf_object>(info, 0);
  LibbpfCall call;
  int err = bpf_object__load(obj->ptr);
  if (err) throw SystemError(info.Env(), err, "bpf_object__load", {{"object", obj->path}});
  return info.Env().Undefined();
}

Napi::Value objectPrograms(const Napi::CallbackInfo& info) {
  Box<bpf_object>* obj = Open<bpf_object>(info, 0);
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj->ptr) {
    Napi::Object p = Napi::Object::New(env);
    p.Set("name", bpf_program__name(prog));
    p.Set("section", bpf_program__section_name(prog));
    p.Set("type", static_cast<uint32_t>(bpf_program__type(prog)));
    p.Set("expectedAttachType", static_cast<uint32_t>(bpf_program__expected_attach_type(prog)));
    out.Set(out.Length(), p);
  }
  return out;
}

Napi::Value objectMaps(const Napi::CallbackInfo& info) {
  Box<bpf_object>* obj = Open<bpf_object>(info, 0);
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  bpf_map* map;
  bpf_object__for_each_map(map, obj->ptr) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("name", bpf_map__name(map));
    m.Set("type", static_cast<uint32_t>(bpf_map__type(map)));
    m.Set("keySize", bpf_map__key_size(map));
    m.Set("valueSize", bpf_map__value_size(map));
    m.Set("maxEntries", bpf_map__max_entries(map));
    const char* pin = bpf_map__pin_path(map);  // set at open for LIBBPF_PIN_BY_NAME maps
    m.Set("pinPath", pin ? Napi::Value(Napi::String::New(env, pin)) : env.Null());
    out.Set(out.Length(), m);
  }
  return out;
}

// libbpf returns -1 (no errno) for a map or program not loaded yet, -errno otherwise.
static int FdError(int fd) { return fd == -1 ? EBADF : -fd; }

Napi::Value objectMapFd(const Napi::CallbackInfo& info) {
  Box<bpf_object>* obj = Open<bpf_object>(info, 0);
  std::string name = ArgString(info, 1, "mapName");
  int fd = bpf_map__fd(FindMap(info.Env(), obj, name));
  if (fd < 0) {
    throw SystemError(info.Env(), FdError(fd), "bpf_map__fd",
                      {{"object", obj->path}, {"map", name}});
  }
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value objectProgramFd(const Napi::CallbackInfo& info) {
  Box<bpf_object>* obj = Open<bpf_object>(info, 0);
  std::string name = ArgString(info, 1, "progName");
  int fd = bpf_program__fd(FindProgram(info.Env(), obj, name));
  if (fd < 0) {
    throw SystemError(info.Env(), FdError(fd), "bpf_program__fd",
                      {{"object", obj->path}, {"program", name}});
  }
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value objectClose(const Napi::CallbackInfo& info) {
  Box<bpf_object>* obj = Unwrap<bpf_object>(info, 0);
  if (obj->ptr) bpf_object__close(obj->ptr);
  obj->ptr = nullptr;
  return info.Env().Undefined();
}

}  // namespace tether
