// Clocks: CLOCK_BOOTTIME, the clock of bpf_ktime_get_boot_ns() and task->start_boottime.
#include <time.h>

#include <cerrno>
#include <cstdint>

#include "api.h"
#include "errors.h"

namespace tether {

Napi::Value clockBoottimeNs(const Napi::CallbackInfo& info) {
  timespec ts{};
  if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0) {
    throw SystemError(info.Env(), errno, "clock_gettime");
  }
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
  return Napi::BigInt::New(info.Env(), ns);
}

}  // namespace tether
