// File descriptors this surface handed out: close(2), dup, reset, and a socket's queued bytes.
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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

// A second fd on the same open file (close-on-exec): the caller can then let Node close its own
// handle while the socket lives on in the relay.
Napi::Value dupFd(const Napi::CallbackInfo& info) {
  int fd = fcntl(ArgFd(info, 0, "fd"), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw SystemError(info.Env(), errno, "fcntl", {}, "F_DUPFD_CLOEXEC");
  return Napi::Number::New(info.Env(), fd);
}

// SO_LINGER {1, 0} then close: the peer sees RST, never a FIN it could take for a whole stream.
// The fd is closed even when the linger option fails (it is not a TCP socket).
Napi::Value resetFd(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  linger l{1, 0};
  int err = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) == 0 ? 0 : errno;
  if (close(fd) != 0) throw SystemError(info.Env(), errno, "close");
  if (err != 0) throw SystemError(info.Env(), err, "setsockopt", {}, "SO_LINGER");
  return info.Env().Undefined();
}

Napi::Value socketInq(const Napi::CallbackInfo& info) {
  int n = 0;
  if (ioctl(ArgFd(info, 0, "fd"), SIOCINQ, &n) != 0) throw SystemError(info.Env(), errno, "ioctl", {}, "SIOCINQ");
  return Napi::Number::New(info.Env(), n);
}

}  // namespace tether
