// Pinned objects in bpffs: get one as a new fd, pin an fd.
#include <bpf/bpf.h>

#include "api.h"
#include "args.h"
#include "errors.h"

namespace tether {

Napi::Value objGet(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) throw SystemError(info.Env(), fd, "bpf_obj_get", {{"path", path}});
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value objPin(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  std::string path = ArgString(info, 1, "path");
  int err = bpf_obj_pin(fd, path.c_str());
  if (err) throw SystemError(info.Env(), err, "bpf_obj_pin", {{"path", path}});
  return info.Env().Undefined();
}

}  // namespace tether
