// pidfds: open one for a pid, ask whether the process lives, signal it.
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "api.h"
#include "args.h"
#include "errors.h"

namespace tether {

Napi::Value pidfdOpen(const Napi::CallbackInfo& info) {
  pid_t pid = static_cast<pid_t>(ArgInt(info, 0, "pid", 1, INT32_MAX));
  long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) throw SystemError(info.Env(), errno, "pidfd_open");
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

// A pidfd polls readable once its process has exited.
Napi::Value pidfdAlive(const Napi::CallbackInfo& info) {
  pollfd p{ArgFd(info, 0, "fd"), POLLIN, 0};
  int n;
  do n = poll(&p, 1, 0);  // never restarted after a signal handler (SA_RESTART does not apply)
  while (n < 0 && errno == EINTR);
  if (n < 0) throw SystemError(info.Env(), errno, "poll");
  if (p.revents & POLLNVAL) throw SystemError(info.Env(), EBADF, "poll");
  return Napi::Boolean::New(info.Env(), !(p.revents & POLLIN));
}

Napi::Value pidfdSendSignal(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int sig = static_cast<int>(ArgInt(info, 1, "signal", 0, SIGRTMAX));
  if (syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) != 0) {
    throw SystemError(info.Env(), errno, "pidfd_send_signal");
  }
  return info.Env().Undefined();
}

}  // namespace tether
