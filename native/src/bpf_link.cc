// bpf_link: attach a program of an object, pin, unpin, disconnect, detach, destroy, adopt, info.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "api.h"
#include "args.h"
#include "errors.h"
#include "handles.h"
#include "object.h"

namespace tether {
namespace {

// The link an attach call returned, as a handle; NULL (errno set) as a NativeError.
Napi::Value LinkOrThrow(Napi::Env env, bpf_link* link, const char* call, Box<bpf_object>* obj,
                        const std::string& prog, const std::string& path = {}) {
  if (link) return Wrap(env, link);
  throw SystemError(env, errno, call, {{"path", path}, {"object", obj->path}, {"program", prog}});
}

}  // namespace

Napi::Value attachAuto(const Napi::CallbackInfo& info) {
  Box<bpf_object>* obj = Open<bpf_object>(info, 0);
  std::string name = ArgString(info, 1, "progName");
  LibbpfCall call;
  bpf_link* link = bpf_program__attach(FindProgram(info.Env(), obj, name));
  return LinkOrThrow(info.Env(), link, "bpf_program__attach", obj, name);
}

Napi::Value attachTracepoint(const Napi::CallbackInfo& info) {
  Box<bpf_object>* obj = Open<bpf_object>(info, 0);
  std::string name = ArgString(info, 1, "progName");
  std::string category = ArgString(info, 2, "category");
  std::string tracepoint = ArgString(info, 3, "name");
  LibbpfCall call;
  bpf_link* link = bpf_program__attach_tracepoint(FindProgram(info.Env(), obj, name),
                                                  category.c_str(), tracepoint.c_str());
  return LinkOrThrow(info.Env(), link, "bpf_program__attach_tracepoint", obj, name);
}

Napi::Value attachRawTracepoint(const Napi::CallbackInfo& info) {
  Box<bpf_object>* obj = Open<bpf_object>(info, 0);
  std::string name = ArgString(info, 1, "progName");
  std::string tracepoint = ArgString(info, 2, "name");
  LibbpfCall call;
  bpf_link* link =
      bpf_program__attach_raw_tracepoint(FindProgram(info.Env(), obj, name), tracepoint.c_str());
  return LinkOrThrow(info.Env(), link, "bpf_program__attach_raw_tracepoint", obj, name);
}

Napi::Value attachCgroup(const Napi::CallbackInfo& info) {
  Box<bpf_object>* obj = Open<bpf_object>(info, 0);
  std::string name = ArgString(info, 1, "progName");
  std::string path = ArgString(info, 2, "cgroupPath");
  LibbpfCall call;
  bpf_program* prog = FindProgram(info.Env(), obj, name);
  int cgroup = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup < 0) throw SystemError(info.Env(), errno, "open", {{"path", path}});
  bpf_link* link = bpf_program__attach_cgroup(prog, cgroup);
  int err = errno;
  close(cgroup);
  errno = err;
  return LinkOrThrow(info.Env(), link, "bpf_program__attach_cgroup", obj, name, path);
}

Napi::Value linkPin(const Napi::CallbackInfo& info) {
  bpf_link* link = Open<bpf_link>(info, 0)->ptr;
  std::string path = ArgString(info, 1, "path");
  LibbpfCall call;
  int err = bpf_link__pin(link, path.c_str());
  if (err) throw SystemError(info.Env(), err, "bpf_link__pin", {{"path", path}});
  return info.Env().Undefined();
}

Napi::Value linkUnpin(const Napi::CallbackInfo& info) {
  bpf_link* link = Open<bpf_link>(info, 0)->ptr;
  const char* pinned = bpf_link__pin_path(link);
  std::string path = pinned ? pinned : "";
  LibbpfCall call;
  int err = bpf_link__unpin(link);
  if (err) throw SystemError(info.Env(), err, "bpf_link__unpin", {{"path", path}});
  return info.Env().Undefined();
}

Napi::Value linkDisconnect(const Napi::CallbackInfo& info) {
  bpf_link__disconnect(Open<bpf_link>(info, 0)->ptr);
  return info.Env().Undefined();
}

Napi::Value linkDetach(const Napi::CallbackInfo& info) {
  bpf_link* link = Open<bpf_link>(info, 0)->ptr;
  LibbpfCall call;
  int err = bpf_link__detach(link);
  if (err) throw SystemError(info.Env(), err, "bpf_link__detach");
  return info.Env().Undefined();
}

Napi::Value linkDestroy(const Napi::CallbackInfo& info) {
  Box<bpf_link>* box = Unwrap<bpf_link>(info, 0);
  if (!box->ptr) return info.Env().Undefined();
  LibbpfCall call;
  int err = bpf_link__destroy(box->ptr);  // frees the link whatever it returns
  box->ptr = nullptr;
  if (err) throw SystemError(info.Env(), err, "bpf_link__destroy");
  return info.Env().Undefined();
}

Napi::Value linkOpenPinned(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "path");
  LibbpfCall call;
  bpf_link* link = bpf_link__open(path.c_str());
  if (!link) throw SystemError(info.Env(), errno, "bpf_link__open", {{"path", path}});
  return Wrap(info.Env(), link);
}

// bpf_obj_get_info_by_fd on the link's fd, asked twice for a raw tracepoint (the second time
// with a buffer for its name: the union's other members have no pointers to fill in).
Napi::Value linkInfo(const Napi::CallbackInfo& info) {
  int fd = bpf_link__fd(Open<bpf_link>(info, 0)->ptr);
  if (fd < 0) throw SystemError(info.Env(), -fd, "bpf_link__fd");
  bpf_link_info link{};
  uint32_t len = sizeof(link);
  int err = bpf_obj_get_info_by_fd(fd, &link, &len);
  if (err) throw SystemError(info.Env(), err, "bpf_obj_get_info_by_fd");
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  const char* name = libbpf_bpf_link_type_str(static_cast<bpf_link_type>(link.type));
  out.Set("id", link.id);
  out.Set("type", link.type);
  out.Set("typeName", name ? name : "");
  out.Set("progId", link.prog_id);
  switch (link.type) {
    case BPF_LINK_TYPE_CGROUP:
      out.Set("cgroupId", Napi::BigInt::New(env, static_cast<uint64_t>(link.cgroup.cgroup_id)));
      out.Set("attachType", link.cgroup.attach_type);
      break;
    case BPF_LINK_TYPE_TRACING:
      out.Set("attachType", link.tracing.attach_type);
      break;
    case BPF_LINK_TYPE_RAW_TRACEPOINT: {
      char tp[128] = {};
      link = bpf_link_info{};
      link.raw_tracepoint.tp_name = reinterpret_cast<uint64_t>(tp);
      link.raw_tracepoint.tp_name_len = sizeof(tp);
      len = sizeof(link);
      err = bpf_obj_get_info_by_fd(fd, &link, &len);
      if (err) throw SystemError(env, err, "bpf_obj_get_info_by_fd");
      out.Set("tpName", std::string(tp, strnlen(tp, sizeof(tp))));
      break;
    }
    default:
      break;
  }
  return out;
}

Napi::Value linkFd(const Napi::CallbackInfo& info) {
  int fd = bpf_link__fd(Open<bpf_link>(info, 0)->ptr);
  if (fd < 0) throw SystemError(info.Env(), -fd, "bpf_link__fd");
  return Napi::Number::New(info.Env(), fd);
}

}  // namespace tether
