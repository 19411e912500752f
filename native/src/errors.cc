#include "errors.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace tether {
namespace {

// What libbpf printed during the current call. Everything runs on the thread of the JS
// environment that made the call, so one buffer per thread is one buffer per call.
thread_local std::string libbpf_log;

int AppendLibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;  // what libbpf's own default printer leaves out
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n <= 0) return 0;
  size_t at = libbpf_log.size();
  libbpf_log.resize(at + n + 1);
  std::vsnprintf(&libbpf_log[at], n + 1, format, args);
  libbpf_log.resize(at + n);
  return n;
}

// The kernel's ENOTSUPP (524, include/linux/errno.h) reaches user space from bpf(2), e.g.
// for a batch op or a lookup the map type lacks; libc has no name for it.
constexpr int kENOTSUPP = 524;

std::string ErrnoName(int err) {
  if (const char* name = strerrorname_np(err)) return name;
  if (err == kENOTSUPP) return "ENOTSUPP";
  return "E" + std::to_string(err);
}

std::string ErrnoText(int err) {
  return err == kENOTSUPP ? "Operation not supported" : std::strerror(err);
}

}  // namespace

Napi::Error SystemError(Napi::Env env, int err, const char* call,
                        std::initializer_list<Context> context, const std::string& detail) {
  if (err < 0) err = -err;
  std::string message = std::string(call) + ": " + ErrnoText(err);
  if (!detail.empty()) message += ": " + detail;
  std::string named;
  for (const Context& c : context) {
    if (c.value.empty()) continue;
    named += (named.empty() ? " (" : ", ") + std::string(c.key) + " '" + c.value + "'";
  }
  if (!named.empty()) message += named + ")";

  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object e = error.Value();
  e.Set("code", ErrnoName(err));
  e.Set("errno", -err);
  e.Set("syscall", call);
  for (const Context& c : context) {
    if (!c.value.empty()) e.Set(c.key, c.value);
  }
  if (!libbpf_log.empty()) e.Set("log", libbpf_log);
  return error;
}

void CaptureLibbpfPrint() { libbpf_set_print(AppendLibbpfPrint); }

LibbpfCall::LibbpfCall() { libbpf_log.clear(); }
LibbpfCall::~LibbpfCall() { libbpf_log.clear(); }

}  // namespace tether
