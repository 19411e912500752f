// The peer of a connected Unix socket: its credentials and a pidfd of it.
#include <sys/socket.h>

#include <cerrno>

#include "api.h"
#include "args.h"
#include "errors.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5
#endif

namespace tether {

Napi::Value peerCred(const Napi::CallbackInfo& info) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(ArgFd(info, 0, "sockFd"), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    throw SystemError(info.Env(), errno, "getsockopt", {}, "SO_PEERCRED");
  }
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("pid", cred.pid);
  out.Set("uid", cred.uid);
  out.Set("gid", cred.gid);
  return out;
}

Napi::Value peerPidfd(const Napi::CallbackInfo& info) {
  int pidfd = -1;
  socklen_t len = sizeof(pidfd);
  if (getsockopt(ArgFd(info, 0, "sockFd"), SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) {
    throw SystemError(info.Env(), errno, "getsockopt", {}, "SO_PEERPIDFD");
  }
  return Napi::Number::New(info.Env(), pidfd);
}

}  // namespace tether
