// File descriptors this surface handed out: close(2).
#include <unistd.h>

#include <cerrno>

#include "api.h"
#include "args.h"
#include "errors.h"

namespace tether {

Napi::Value closeFd(const Napi::CallbackInfo& info) {
  if (close(ArgFd(info, 0, "fd")) != 0) throw SystemError(info.Env(), errno, "close");
  return info.Env().Undefined();
}

}  // namespace tether
